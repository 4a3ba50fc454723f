"""Full-size models of real architectures through sdkgen on this machine: memory and time per stage.

    .venv/bin/python bench/big_model.py                                  # Llama 3 8B: ~15-30 min, ~45 GB of disk
    .venv/bin/python bench/big_model.py --shape phi2                     # Phi-2 (2.78B): ~20-30 min, ~20 GB of disk
    .venv/bin/python bench/big_model.py --shape phi2 --json phi2.json --keep

Steps, each a fresh process measured by bench/tree_memory.py (peak resident memory of the whole
process tree: sdkgen, its converter child and its verification child, per stage; wall time):
  checkpoint   bench/make_random_model.py: the shape's published config, random weights
  llama3-8b:
    convert    `sdkgen convert --runtime llamacpp --quant Q`, empty cache, verification included
    android    `sdkgen android --profile P` (the plan picks the format that fits the phone)
    litert     `sdkgen convert --runtime litert --quant int8`: expected to be refused before it starts (exit 3)
  phi2 (issue 18's full-size rows; bench/figures.py --full-size runs this):
    android    `sdkgen android --profile pixel8` (llama.cpp, the plan's format), verification included
    litert     `sdkgen convert --runtime litert --quant int4 --profile pixel8`, verification included
Prints a table and, with --json, writes the figures. Deletes the checkpoint, the cache and the
outputs at the end unless --keep. Nothing asserts on the figures (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from sdk_gen.units import GIB  # noqa: E402
from tree_memory import measure  # noqa: E402

SDKGEN = str(REPO / ".venv/bin/sdkgen")
# The random checkpoint's tokenizer splits text as GPT-2 does (make_random_model.py).
PRE_TOKENIZER = "gpt-2"


# Per shape: the work folder, the llama.cpp format of the `convert` step (none: no such step),
# the phone the `android` step plans for, and the LiteRT format tried.
SHAPE_RUNS = {
    "llama3-8b": {"work": "/tmp/sdkgen-8b", "quant": "q8_0", "profile": "oneplus12", "litert": "int8"},
    "phi2": {"work": "/tmp/sdkgen-phi2", "quant": None, "profile": "pixel8", "litert": "int4"},
}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPE_RUNS), default="llama3-8b")
    parser.add_argument("--work", type=Path, default=None, help="default: /tmp/sdkgen-<shape>")
    parser.add_argument("--quant", default=None, help="the llama.cpp format of the convert step (llama3-8b: q8_0)")
    parser.add_argument("--profile", default=None, help="the phone of the android step (`sdkgen profiles`)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["convert", "android", "litert"], help="steps to leave out")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint, cache and outputs")
    args = parser.parse_args(argv)
    run = SHAPE_RUNS[args.shape]
    work = args.work or Path(run["work"])
    quant, profile = args.quant or run["quant"], args.profile or run["profile"]
    model, cache = work / f"{args.shape}-random", work / "cache"
    env = {**os.environ, "SDKGEN_CACHE_DIR": str(cache)}
    os.environ.update(env)  # the measured commands inherit it
    rows = []

    def step(name: str, command: list[str]) -> None:
        print(f"==> {name}: {' '.join(command)}", flush=True)
        result = measure(command)
        rows.append({"step": name, **asdict(result)})
        print(f"    exit {result.exit_code}, {result.wall_seconds:.0f} s, peak tree RSS {result.peak_tree_rss_bytes / GIB:.2f} GiB", flush=True)

    try:
        if not model.is_dir():
            start = time.perf_counter()
            subprocess.run([sys.executable, str(REPO / "bench/make_random_model.py"), str(model), "--shape", args.shape], check=True)
            rows.append({"step": "checkpoint", "wall_seconds": round(time.perf_counter() - start, 1)})
        if quant and "convert" not in args.skip:
            step(f"convert {quant}", [SDKGEN, "convert", "--model", str(model), "--runtime", "llamacpp", "--quant", quant,
                                      "--pre-tokenizer", PRE_TOKENIZER, "-o", str(work / f"out-{quant}"), "--force"])
        if "android" not in args.skip:
            step(f"android {profile}", [SDKGEN, "android", "--model", str(model), "--profile", profile, "--runtime", "llamacpp",
                                        "--pre-tokenizer", PRE_TOKENIZER, "-o", str(work / "android"), "--force"])
        if "litert" not in args.skip:
            step(f"litert {run['litert']}", [SDKGEN, "convert", "--model", str(model), "--runtime", "litert", "--quant", run["litert"],
                                             "--profile", profile, "-o", str(work / "out-litert"), "--force"])
    finally:
        if not args.keep:
            for path in (model, cache, *work.glob("out-*"), work / "android"):
                shutil.rmtree(path, ignore_errors=True)

    print(f"\n{'step':<22} {'exit':>4} {'wall s':>8} {'peak GiB':>9}   per stage (GiB, s)")
    for row in rows:
        stages = ", ".join(f"{name} {s['peak_tree_rss_bytes'] / GIB:.2f} / {s['seconds']:.0f}" for name, s in row.get("stages", {}).items())
        peak = row.get("peak_tree_rss_bytes")
        print(f"{row['step']:<22} {row.get('exit_code', 0):>4} {row['wall_seconds']:>8.0f} "
              f"{'' if peak is None else f'{peak / GIB:.2f}':>9}   {stages}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
