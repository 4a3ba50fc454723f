"""The browser row of the memory figures: what a Chromium tab holds with the model loaded by the
generated `sdkgen web` app, against what the plan predicted.

    .venv/bin/python bench/web_memory.py                     # tiny, small and medium demos (a few minutes)
    .venv/bin/python bench/web_memory.py --size medium --json web.json

    .venv/bin/python bench/web_memory.py --engine mediapipe  # the .task on WebGPU (SwiftShader here)

For each demo size it runs `sdkgen web --profile chrome-desktop` (wllama: `--runtime llamacpp
--quant q8_0`; mediapipe: `--runtime litert --quant f16`, the .task) at context 512, installs and
builds the app (`npm ci`, `npm run build`), serves it on 127.0.0.1 with COOP/COEP and opens it
twice in Debian's headless Chromium (tests/web/drive.mjs): once without loading the model (the
blank tab) and once after `prepare()` from the Origin Private File System (the loaded tab). While
each page waits, the resident memory (RSS) of every Chromium renderer process is summed, and for
a WebGPU engine the GPU process's too (where SwiftShader keeps the GPU buffers; on a phone or an
integrated GPU they are the same RAM). Figures only: nothing asserts (bench/README.md).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.model.demo import DEMO_SIZES, write_demo_model  # noqa: E402
from sdk_gen.units import MIB  # noqa: E402

SDKGEN = str(REPO / ".venv/bin/sdkgen")
DRIVER = REPO / "tests/web/drive.mjs"
HOLD_MS = 4000


class _Isolated(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


# What each engine's conversion is, and the Chromium processes that hold its model.
ENGINES = {
    "wllama": {"convert": ["--runtime", "llamacpp", "--quant", "q8_0"], "suffix": "*.gguf", "webgpu": False,
               "processes": (b"--type=renderer",)},
    "mediapipe": {"convert": ["--runtime", "litert", "--quant", "f16"], "suffix": "*.task", "webgpu": True,
                  "processes": (b"--type=renderer", b"--type=gpu-process")},
}


def renderer_rss_bytes(processes: tuple[bytes, ...] = (b"--type=renderer",)) -> int:
    """RSS of every Chromium process of these types now (by default the tab's renderers; the
    browser process is never counted)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            # Chromium rewrites its child processes' argv into one space-separated title.
            cmdline = status.read_bytes()
            if b"chromium" not in cmdline.split(b" ")[0] or not any(kind in cmdline for kind in processes):
                continue
            for line in (status.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, IndexError, ValueError):
            continue
    return total


def tab_rss(project: Path, url: str, actions: list[dict], engine: dict) -> tuple[int, list[dict]]:
    """Run the actions, then hold the page open and take the largest RSS seen meanwhile."""
    hold = {"do": "evaluate", "expression": f"new Promise((done) => setTimeout(() => done(1), {HOLD_MS}))"}
    child = subprocess.Popen(["node", str(DRIVER), str(project), url, json.dumps([*actions, hold])],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "DRIVE_WEBGPU": "1" if engine["webgpu"] else "0"})
    peak = 0
    while child.poll() is None:
        peak = max(peak, renderer_rss_bytes(engine["processes"]))
        time.sleep(0.2)
    out, err = child.communicate()
    results = json.loads(out.strip().split("\n")[-1])["results"] if out.strip() else []
    if not results or not all(r.get("ok") for r in results):
        raise SystemExit(f"the page failed: {results or err[-2000:]}")
    return peak, results


def measure(size: str, work: Path, engine: dict) -> dict:
    model = work / f"demo-{size}"
    if not model.is_dir():
        write_demo_model(model, size=size)
    project = work / f"web-{size}"
    subprocess.run([SDKGEN, "web", "--model", str(model), "--profile", "chrome-desktop", *engine["convert"],
                    "--context", "512", "-o", str(project), "--force"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "SDKGEN_CACHE_DIR": str(work / "cache")})
    report = json.loads((project / "sdkgen-report.json").read_text())
    for step in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"]):
        subprocess.run(step, cwd=project, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Isolated, directory=str(project / "dist")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        blank, _ = tab_rss(project, url, [{"do": "env"}], engine)
        loaded, results = tab_rss(project, url, [{"do": "prepare", "storage": "opfs", "settings": {"threads": 1}}], engine)
    finally:
        server.shutdown()
    budget = report["budget"]["actual"]
    return {
        "size": size,
        "model_bytes": sum(p.stat().st_size for p in (project / "public/models").glob(engine["suffix"])),
        "predicted_total_bytes": budget["total_bytes"],
        "predicted_overhead_bytes": budget["overhead_bytes"],
        "blank_tab_rss_bytes": blank,
        "loaded_tab_rss_bytes": loaded,
        "threads": results[0].get("threads"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(DEMO_SIZES), action="append")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="wllama")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = print_table(args.engine, args.size or ["tiny", "small", "medium"])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def print_table(engine_name: str, sizes: list[str]) -> list[dict]:
    """Measure and print the browser rows of one web engine (bench/figures.py prints them too)."""
    engine = ENGINES[engine_name]
    rows = []
    held = " + ".join(kind.decode().removeprefix("--type=") for kind in engine["processes"])
    print(f"browser: chrome-desktop profile, {engine_name} ({' '.join(engine['convert'][1::2])}), context 512, "
          f"headless Chromium, RSS of {held}")
    print(f"{'size':<8}{'model MiB':>10}{'pred MiB':>10}{'blank MiB':>11}{'loaded MiB':>12}{'meas/pred':>11}")
    with tempfile.TemporaryDirectory(prefix="sdkgen-web-bench-") as scratch:
        for size in sizes:
            row = {"engine": engine_name, **measure(size, Path(scratch), engine)}
            rows.append(row)
            print(f"{size:<8}{row['model_bytes'] / MIB:>10.1f}{row['predicted_total_bytes'] / MIB:>10.1f}"
                  f"{row['blank_tab_rss_bytes'] / MIB:>11.1f}{row['loaded_tab_rss_bytes'] / MIB:>12.1f}"
                  f"{row['loaded_tab_rss_bytes'] / row['predicted_total_bytes']:>11.3f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
