"""What caching saves a user who runs sdkgen more than once on the same model.

    .venv/bin/python bench/verify_reuse.py                 # the small demo (25.7M parameters)
    .venv/bin/python bench/verify_reuse.py --size medium   # 202.6M: where PyTorch's share is larger
    .venv/bin/python bench/verify_reuse.py --json reuse.json

Each command runs in a fresh process, as a user runs it, with its own empty sdkgen cache where the
row says "cold". Rows, each with its ratio to the cold run it repeats:
  android again   `sdkgen android` a second time: the artifact and its passed verification are reused
  ios after       `sdkgen ios` after `sdkgen android`: where both platforms take the same artifact
                  (LiteRT-LM's .litertlm, llama.cpp's GGUF) its verification is reused too
  2nd runtime     `sdkgen convert --runtime llamacpp --quant f16` after those (LiteRT) runs, against
                  the same command in an empty cache: PyTorch's answers are reused
Figures only: nothing asserts on time (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.model.demo import DEMO_SIZES, write_demo_model  # noqa: E402

SDKGEN = str(REPO / ".venv/bin/sdkgen")


def timed(args: list[str], cache: Path) -> float:
    env = {**os.environ, "SDKGEN_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([SDKGEN, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(DEMO_SIZES), default="small")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sdkgen-reuse-") as scratch:
        work = Path(scratch)
        model = work / f"demo-{args.size}"
        write_demo_model(model, size=args.size)
        android = ["android", "--model", str(model), "--profile", "pixel8", "--force"]
        ios = ["ios", "--model", str(model), "--profile", "iphone15pro", "--force"]
        # f16, as `sdkgen android` picks for these demos: both check against fp16-rounded weights.
        llama = ["convert", "--model", str(model), "--runtime", "llamacpp", "--quant", "f16", "--profile", "pixel8", "--force"]

        rows = []

        def row(name: str, seconds: float, cold: float, what: str) -> None:
            rows.append({"row": name, "seconds": round(seconds, 2), "cold_seconds": round(cold, 2),
                         "ratio": round(seconds / cold, 3), "what": what})
            print(f"  {name:<14} {seconds:7.1f} s   cold {cold:7.1f} s   ratio {seconds / cold:6.3f}   {what}", flush=True)

        print(f"demo model {args.size}, each command a fresh process, {os.cpu_count()} CPU cores")
        shared = work / "cache-shared"
        cold_android = timed([*android, "-o", str(work / "a1")], shared)
        again = timed([*android, "-o", str(work / "a2")], shared)
        row("android again", again, cold_android, "second `sdkgen android`: artifact and verification from the cache")
        ios_after = timed([*ios, "-o", str(work / "i1")], shared)
        cold_ios = timed([*ios, "-o", str(work / "i2")], work / "cache-ios-cold")
        row("ios after", ios_after, cold_ios, "`sdkgen ios` after `sdkgen android`: the same artifact and its verification")

        after_litert = timed([*llama, "-o", str(work / "g1")], shared)
        cold_llama = timed([*llama, "-o", str(work / "g2")], work / "cache-llama-cold")
        row("2nd runtime", after_litert, cold_llama, "`sdkgen convert --runtime llamacpp` after the LiteRT runs above")

    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
