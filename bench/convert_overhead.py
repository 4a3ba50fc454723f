"""sdkgen's conversion overhead, side by side with the raw toolchain, in one run.

    .venv/bin/python bench/convert_overhead.py [--runtime litert] [--quant int8 ...] [--size tiny]

For each quantization it times, each in a fresh process as a user would run them:
  raw    the runtime's own converter called directly with the arguments sdkgen passes it
  cold   `sdkgen convert --no-verify` with an empty cache (inspect, hashing, convert, cache, output)
  hit    the same command again (cache hit)
and prints the ratios against the targets (cold/raw <= 1.05, hit/cold <= 2%) and the artifact's
size against the bits-per-parameter floor (parameters x nominal bits, no scales, no graph).
Figures only: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.model import inspect_model  # noqa: E402
from sdk_gen.model.demo import write_demo_model  # noqa: E402

NOMINAL_BITS = {"f32": 32, "f16": 16, "int8": 8, "int4": 4, "q8_0": 8, "q4_0": 4, "q4_k_m": 4}


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def raw_litert(model: Path, quant: str, context: int, workdir: Path) -> float:
    """export_hf called directly, in a fresh interpreter, with sdkgen's arguments."""
    from sdk_gen.runtimes.litert import PREFILL_LENGTH
    from sdk_gen.runtimes.litert.export import export_arguments, recipe_argument, use_lightweight_export

    arguments = export_arguments(
        model, workdir / "raw-export", context=context, prefill=min(PREFILL_LENGTH, context),
        recipe=recipe_argument(quant, workdir), lightweight=use_lightweight_export(inspect_model(model).num_params),
    )
    script = (
        "import json, sys\n"
        "from litert_torch.generative.export_hf import export\n"
        "export.export(**json.loads(sys.argv[1]))\n"
    )
    return timed([sys.executable, "-c", script, json.dumps(arguments)])


def raw_llamacpp(model: Path, quant: str, context: int, workdir: Path) -> float:
    """llama.cpp's converter (and llama_model_quantize for q4) alone, in a fresh interpreter.

    This is sdkgen's conversion child run by hand: convert_hf_to_gguf.main() with the demo's
    pre-tokenizer named, then the quantizer; none of sdkgen's inspection, hashing or caching.
    """
    from sdk_gen.runtimes.llamacpp.toolchain import llama_cpp_dir

    request = {
        "llama_dir": str(llama_cpp_dir()), "model": str(model), "out": str(workdir / f"raw-{quant}.gguf"),
        "quant": quant, "pre_tokenizer": "gpt-2", "threads": 2,
    }
    return timed([sys.executable, "-m", "sdk_gen.runtimes.llamacpp.convert", json.dumps(request)])


RAW = {"litert": raw_litert, "llamacpp": raw_llamacpp}
DEFAULT_QUANTS = {"litert": ["f32", "f16", "int8", "int4"], "llamacpp": ["f16", "q8_0", "q4_k_m", "q4_0"]}


def sdkgen_convert(model: Path, runtime: str, quant: str, context: int, out: Path, cache: Path) -> tuple[float, dict]:
    import os

    env = {**os.environ, "SDKGEN_CACHE_DIR": str(cache)}
    report_path = out / "sdkgen-report.json"
    seconds = timed(
        [sys.executable, "-m", "sdk_gen", "convert", "--model", str(model), "--runtime", runtime, "--quant", quant,
         "--context", str(context), "--no-verify", "-o", str(out), "--force"],
        env=env,
    )
    return seconds, json.loads(report_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="litert", choices=sorted(RAW))
    parser.add_argument("--quant", nargs="*", default=None)
    parser.add_argument("--size", default="tiny", choices=["tiny", "small", "medium"])
    parser.add_argument("--context", type=int, default=256)
    args = parser.parse_args()
    quants = args.quant or DEFAULT_QUANTS[args.runtime]

    with tempfile.TemporaryDirectory(prefix="sdkgen-bench-") as scratch:
        scratch_dir = Path(scratch)
        model = write_demo_model(scratch_dir / f"demo-{args.size}", size=args.size)
        params = inspect_model(model).num_params
        print(f"model: demo {args.size}, {params:,} parameters; runtime {args.runtime}; context {args.context}")
        header = f"{'quant':<7} {'raw s':>7} {'cold s':>7} {'cold/raw':>9} {'hit s':>7} {'hit/cold':>9} {'bytes':>12} {'floor':>12} {'bytes/floor':>11}"
        print(header)
        print("-" * len(header))
        for quant in quants:
            work = scratch_dir / quant
            work.mkdir()
            raw = RAW[args.runtime](model, quant, args.context, work)
            cold, report = sdkgen_convert(model, args.runtime, quant, args.context, work / "cold", work / "cache")
            hit, hit_report = sdkgen_convert(model, args.runtime, quant, args.context, work / "hit", work / "cache")
            assert hit_report["cache"]["hit"], "second run was not a cache hit"
            size = report["artifacts"][0]["bytes"]
            floor = params * NOMINAL_BITS[quant] / 8
            print(
                f"{quant:<7} {raw:7.1f} {cold:7.1f} {cold / raw:9.3f} {hit:7.2f} {hit / cold:8.1%} {size:12,} "
                f"{int(floor):12,} {size / floor:11.3f}"
            )
        print("targets: cold/raw <= 1.05, hit/cold <= 2%")


if __name__ == "__main__":
    main()
