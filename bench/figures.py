"""sdkgen's performance figures in one table: conversion overhead, cache, sizes and memory.

    .venv/bin/python bench/figures.py                                   # every runtime, tiny/small/medium
    .venv/bin/python bench/figures.py --runtime executorch --no-raw     # without the raw converter column
    .venv/bin/python bench/figures.py --runtime llamacpp --size tiny    # one corner of it
    .venv/bin/python bench/figures.py --json figures.json               # the rows as JSON as well

For every runtime x demo size x quantization it runs, each in a fresh process as a user would:
  raw     the runtime's own converter called directly with the arguments sdkgen passes it
  cold    `sdkgen convert --no-verify --profile P` with an empty cache (inspect, hash, convert, cache, output)
  hit     the same command again (a cache hit)
  run     bench/host_run.py: the host runtime loads the artifact and decodes 32 tokens
and prints one row per artifact; then the browser rows (bench/web_memory.py: a Chromium tab with the
model loaded by the generated `sdkgen web` app, per web engine and demo size). With --full-size,
the full-size rows: a Phi-2-shaped 2.78B checkpoint through `sdkgen android --profile pixel8` and
`sdkgen convert --runtime litert --quant int4` (bench/big_model.py --shape phi2, ~40 min), each
stage's measured peak tree RSS beside what sdkgen predicted for it before it started;
--full-size-json reprints them from an earlier run kept with --keep. Figures only: nothing here asserts on time; bench/README.md
explains each column and its target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.model import inspect_model  # noqa: E402
from sdk_gen.model.demo import DEMO_SIZES, write_demo_model  # noqa: E402
from sdk_gen.units import MIB  # noqa: E402

import web_memory  # noqa: E402  (bench/web_memory.py, beside this script)

NOMINAL_BITS = {"f32": 32, "f16": 16, "int8": 8, "int4": 4, "q8_0": 8, "q4_0": 4, "q4_k_m": 4, "fp32": 32, "8da4w": 4}
QUANTS = {"litert": ["f32", "f16", "int8", "int4"], "llamacpp": ["f16", "q8_0", "q4_k_m", "q4_0"],
          "executorch": ["fp32", "8da4w"]}
ARTIFACT_SUFFIX = {"litert": ".litertlm", "llamacpp": ".gguf", "executorch": ".pte"}


@dataclass
class Row:
    runtime: str
    size: str
    params: int
    quant: str
    raw_s: float | None  # None: not measured (--no-raw)
    cold_s: float
    hit_s: float
    artifact_bytes: int
    floor_bytes: int
    predicted_artifact_bytes: int
    predicted_memory_bytes: int
    measured_memory_bytes: int
    decode_tokens_per_s: float

    def cells(self) -> list[str]:
        return [
            self.runtime, f"{self.params / 1e6:.1f}M", self.quant,
            *((f"{self.raw_s:.1f}", f"{self.cold_s:.1f}", f"{self.cold_s / self.raw_s:.3f}") if self.raw_s
              else ("-", f"{self.cold_s:.1f}", "-")),
            f"{self.hit_s:.2f}", f"{self.hit_s / self.cold_s:.1%}",
            f"{self.artifact_bytes / MIB:.1f}", f"{self.artifact_bytes / self.floor_bytes:.3f}",
            f"{self.artifact_bytes / self.predicted_artifact_bytes:.3f}",
            f"{self.predicted_memory_bytes / MIB:.1f}", f"{self.measured_memory_bytes / MIB:.1f}",
            f"{self.measured_memory_bytes / self.predicted_memory_bytes:.3f}",
            f"{self.decode_tokens_per_s:,.0f}",
        ]


COLUMNS = ["runtime", "params", "quant", "raw s", "cold s", "cold/raw", "hit s", "hit/cold", "MiB",
           "/floor", "act/pred", "pred MiB", "meas MiB", "meas/pred", "tok/s"]


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def raw_litert(model: Path, quant: str, context: int, workdir: Path) -> float:
    """litert-torch's export_hf called directly, in a fresh interpreter, with sdkgen's arguments."""
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
    """sdkgen's conversion child run by hand: llama.cpp's convert_hf_to_gguf.main() with the
    demo's pre-tokenizer named, then llama_model_quantize for the 4-bit formats; none of
    sdkgen's inspection, hashing or caching."""
    from sdk_gen.runtimes.llamacpp.toolchain import llama_cpp_dir

    request = {
        "llama_dir": str(llama_cpp_dir()), "model": str(model), "out": str(workdir / f"raw-{quant}.gguf"),
        "quant": quant, "pre_tokenizer": "gpt-2", "threads": 2, "checkpoint_dtype": "float32",  # the demo is float32
    }
    return timed([sys.executable, "-m", "sdk_gen.runtimes.llamacpp.convert", json.dumps(request)])


def raw_executorch(model: Path, quant: str, context: int, workdir: Path) -> float:
    """sdkgen's export child run by hand, with the request sdkgen sends it. ExecuTorch has no
    converter of its own for a Hugging Face folder: the child is the pipeline (transformers'
    exportable wrapper -> torch.export -> to_edge_transform_and_lower(XNNPACK) -> `.pte`), so this
    column measures everything sdkgen adds around it (inspection, hashing, cache, report)."""
    request = {"model_dir": str(model), "context": context, "quant": quant, "out": str(workdir / f"raw-{quant}.pte")}
    return timed([sys.executable, "-m", "sdk_gen.runtimes.executorch.export", json.dumps(request)])


RAW = {"litert": raw_litert, "llamacpp": raw_llamacpp, "executorch": raw_executorch}


def sdkgen_convert(model: Path, runtime: str, quant: str, context: int, profile: str, out: Path,
                   cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "SDKGEN_CACHE_DIR": str(cache)}
    seconds = timed(
        [sys.executable, "-m", "sdk_gen", "convert", "--model", str(model), "--runtime", runtime, "--quant", quant,
         "--context", str(context), "--profile", profile, "--no-verify", "-o", str(out), "--force"],
        env=env,
    )
    return seconds, json.loads((out / "sdkgen-report.json").read_text())


def host_run(runtime: str, artifact: Path, context: int, quant: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/host_run.py"), runtime, str(artifact), str(context), quant],
        check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(model: Path, size: str, runtime: str, quant: str, context: int, profile: str, work: Path,
            raw_column: bool = True) -> Row:
    work.mkdir()
    raw = RAW[runtime](model, quant, context, work) if raw_column else None
    cold, report = sdkgen_convert(model, runtime, quant, context, profile, work / "cold", work / "cache")
    hit, hit_report = sdkgen_convert(model, runtime, quant, context, profile, work / "hit", work / "cache")
    if not hit_report["cache"]["hit"]:
        raise RuntimeError(f"{runtime} {quant}: the second conversion was not a cache hit")
    (artifact,) = [a for a in report["artifacts"] if a["path"].endswith(ARTIFACT_SUFFIX[runtime])]
    # The plan's figures, as `sdkgen plan` shows them before anything is converted.
    predicted = report["budget"]["predicted"]
    run = host_run(runtime, work / "cold" / artifact["path"], context, quant)
    params = report["model"]["num_params"]
    return Row(
        runtime=runtime, size=size, params=params, quant=quant, raw_s=raw, cold_s=cold, hit_s=hit,
        artifact_bytes=artifact["bytes"], floor_bytes=int(params * NOMINAL_BITS[quant] / 8),
        predicted_artifact_bytes=report["weights"]["predicted_bytes"],
        predicted_memory_bytes=sum(
            predicted[part] for part in ("weights_bytes", "load_copy_bytes", "kv_cache_bytes", "working_bytes")
        ),
        measured_memory_bytes=run["peak_rss"] - run["baseline_rss"],
        decode_tokens_per_s=run["decode_tokens_per_s"],
    )


def print_row(cells: list[str], widths: list[int]) -> None:
    print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))), flush=True)


def main(argv: list[str] | None = None, runtimes: list[str] | None = None, sizes: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", nargs="*", default=runtimes or sorted(RAW), choices=sorted(RAW))
    parser.add_argument("--size", nargs="*", default=sizes or list(DEMO_SIZES), choices=list(DEMO_SIZES))
    parser.add_argument("--quant", nargs="*", default=None, help="default: each runtime's four formats")
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--profile", default="pixel8", help="the device the plan's memory figures are for")
    parser.add_argument("--browser", nargs="*", default=None, choices=sorted(web_memory.ENGINES),
                        help="web engines for the browser rows (default: all; none: --browser with no name)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--no-raw", dest="raw", action="store_false",
                        help="skip the raw converter column (it costs as much as the cold one)")
    parser.add_argument("--full-size", action="store_true", help="also run the full-size (Phi-2 shape) rows: ~40 min, ~24 GiB")
    parser.add_argument("--full-size-json", type=Path, default=None,
                        help="print the full-size rows of an earlier `bench/big_model.py --shape phi2 --keep --json FILE`")
    args = parser.parse_args(argv)
    if args.full_size_json:
        print_full_size(json.loads(args.full_size_json.read_text()))
        return
    browsers = sorted(web_memory.ENGINES) if args.browser is None else args.browser

    widths = [10, 7, 6, 6, 6, 8, 5, 8, 7, 6, 8, 8, 8, 9, 7]
    print(f"context {args.context}, profile {args.profile}, {os.cpu_count()} CPU cores")
    print_row(COLUMNS, widths)
    print("-" * (sum(widths) + 2 * (len(widths) - 1)), flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sdkgen-bench-") as scratch:
        scratch_dir = Path(scratch)
        for size in args.size:
            model = write_demo_model(scratch_dir / f"demo-{size}", size=size)
            for runtime in args.runtime:
                for quant in args.quant or QUANTS[runtime]:
                    if quant not in QUANTS[runtime]:
                        continue
                    print(f"  ... {runtime} {size} {quant}", file=sys.stderr, flush=True)
                    row = measure(model, size, runtime, quant, args.context, args.profile,
                                  scratch_dir / f"{size}-{runtime}-{quant}", raw_column=args.raw)
                    rows.append(row)
                    print_row(row.cells(), widths)
    print("targets: cold/raw <= 1.05, hit/cold <= 2%, meas/pred within 0.90-1.10")
    browser_rows = [web_memory.print_table(engine, args.size) for engine in browsers]
    full_size = []
    if args.full_size:
        import big_model  # noqa: E402  (bench/big_model.py, beside this script)

        full_size = big_model.main(["--shape", "phi2", "--keep"])
        print_full_size(full_size)
    if args.json:
        args.json.write_text(json.dumps({"artifacts": [asdict(r) for r in rows],
                                         "browser": [row for table in browser_rows for row in table],
                                         "full_size": full_size}, indent=2) + "\n")


def stage_predictions(report: dict) -> dict[str, int]:
    """What sdkgen predicts, before each stage starts, for the job a report describes: the
    conversion's peak, and the verification's (runtime, then the reference mode it would pick
    on a machine with this much memory), from the same functions that gate the stages."""
    from sdk_gen.conversion import ConversionRequest, predicted_conversion_bytes, prepare_job
    from sdk_gen.verification_memory import plan_verification_memory
    from sdk_gen.verify import LAYERWISE, WHOLE_MODEL

    request = ConversionRequest(model=report["model"]["path"], runtime=report["runtime"], quant=report["quant"],
                                context=report["context"], artifact_format=report["format"],
                                pre_tokenizer=report.get("toolchain", {}).get("pre_tokenizer"))
    job = prepare_job(request).job
    predicted = {"conversion": predicted_conversion_bytes(job) or 0}
    plan = plan_verification_memory(job, report["artifacts"][0]["bytes"], available=0)
    # The mode the verification ran in (the one that fitted the memory free at the time): its
    # reference line says "one layer at a time" when it was layer by layer.
    layerwise = "one layer at a time" in report["verification"]["reference"] and LAYERWISE in plan.references
    predicted["verification"] = plan.peak(LAYERWISE if layerwise else WHOLE_MODEL)
    return predicted


def print_full_size(steps: list[dict]) -> None:
    """The full-size rows: per step and stage, measured peak tree RSS (GiB) and seconds, and the prediction."""
    from sdk_gen.units import GIB

    print("\nfull size (Phi-2 shape, 2.78B parameters, random fp16 weights): peak tree RSS per stage")
    print(f"{'step':<16} {'exit':>4} {'stage':<13} {'meas GiB':>9} {'pred GiB':>9} {'meas/pred':>9} {'seconds':>8}")
    for step in steps:
        if "stages" not in step:
            continue
        report_path = Path(step["command"][step["command"].index("-o") + 1]) / "sdkgen-report.json"
        predicted = stage_predictions(json.loads(report_path.read_text())) if report_path.is_file() else {}
        for stage, figures in step["stages"].items():
            measured = figures["peak_tree_rss_bytes"]
            guess = predicted.get(stage)
            ratio = f"{measured / guess:.3f}" if guess else "-"
            shown = f"{guess / GIB:.2f}" if guess else "-"
            print(f"{step['step']:<16} {step['exit_code']:>4} {stage:<13} {measured / GIB:>9.2f} "
                  f"{shown:>9} {ratio:>9} {figures['seconds']:>8.0f}")


if __name__ == "__main__":
    main()
