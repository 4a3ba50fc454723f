"""An 8B model of a real architecture through sdkgen on this machine: memory and time per stage.

    .venv/bin/python bench/big_model.py --work /tmp/sdkgen-8b                 # ~15-30 min, ~45 GB of disk
    .venv/bin/python bench/big_model.py --work /tmp/sdkgen-8b --json big.json --keep

Steps, each a fresh process measured by bench/tree_memory.py (peak resident memory of the whole
process tree: sdkgen, its converter child and its verification child, per stage; wall time):
  checkpoint   bench/make_random_model.py: Llama 3 8B's published config, random bf16 weights
  convert      `sdkgen convert --runtime llamacpp --quant Q`, empty cache, verification included
  android      `sdkgen android --profile P` (the plan picks the format that fits the phone)
  litert       `sdkgen convert --runtime litert`: expected to be refused before it starts (exit 3)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/sdkgen-8b"))
    parser.add_argument("--quant", default="q8_0")
    parser.add_argument("--profile", default="oneplus12", help="a 12-16 GB Android phone (`sdkgen profiles`)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the checkpoint, cache and outputs")
    args = parser.parse_args(argv)
    work = args.work
    model, cache = work / "llama3-8b-random", work / "cache"
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
            subprocess.run([sys.executable, str(REPO / "bench/make_random_model.py"), str(model)], check=True)
            rows.append({"step": "checkpoint", "wall_seconds": round(time.perf_counter() - start, 1)})
        step(f"convert {args.quant}", [SDKGEN, "convert", "--model", str(model), "--runtime", "llamacpp", "--quant", args.quant,
                                      "--pre-tokenizer", PRE_TOKENIZER, "-o", str(work / f"out-{args.quant}"), "--force"])
        step(f"android {args.profile}", [SDKGEN, "android", "--model", str(model), "--profile", args.profile, "--runtime", "llamacpp",
                                         "--pre-tokenizer", PRE_TOKENIZER, "-o", str(work / "android"), "--force"])
        step("litert int8", [SDKGEN, "convert", "--model", str(model), "--runtime", "litert", "--quant", "int8",
                             "-o", str(work / "out-litert")])
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


if __name__ == "__main__":
    main()
