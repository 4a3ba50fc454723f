"""Run one command and measure the peak resident memory of its whole process tree, per stage.

    .venv/bin/python bench/tree_memory.py --json convert.json -- .venv/bin/sdkgen convert --model M ...

Every 50 ms it lists the command's descendants (/proc/PID/task/*/children) and sums their resident
memory (VmRSS: anonymous and file-backed pages, mapped model files included). The peak of that sum
is the tree's peak; ru_maxrss from wait4 would not do, since it reports one process's peak and
counts children only once they are reaped. Each sample is attributed to a stage by the sdkgen
child running at that moment (the converter, the verification child), else to "sdkgen". A stage
shorter than the poll interval can be missed; sdkgen's stages last seconds to minutes.
Prints a table and, with --json, writes the figures. Nothing asserts on them (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sdk_gen.units import GIB, KIB  # noqa: E402

POLL_SECONDS = 0.05

# Command-line marks of sdkgen's children, and the stage each runs.
STAGE_MARKS = (
    ("sdk_gen.runtimes.llamacpp.convert", "conversion"),
    ("sdk_gen.runtimes.litert", "conversion"),
    ("sdk_gen.runtimes.executorch.export", "conversion"),
    ("sdk_gen.verify_worker", "verification"),
)


@dataclass
class StageFigures:
    peak_tree_rss_bytes: int = 0
    seconds: float = 0.0  # time the samples of this stage cover


@dataclass
class TreeMeasurement:
    command: list[str]
    exit_code: int
    wall_seconds: float
    peak_tree_rss_bytes: int
    stages: dict[str, StageFigures] = field(default_factory=dict)


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError):
        pass
    return found


def _tree(root: int) -> list[int]:
    pending, seen = [root], []
    while pending:
        pid = pending.pop()
        seen.append(pid)
        pending += _children(pid)
    return seen


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KIB
    except OSError:
        pass
    return 0


def _stage_of(pids: list[int]) -> str:
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for mark, stage in STAGE_MARKS:
            if mark in cmdline:
                return stage
    return "sdkgen"


def measure(command: list[str]) -> TreeMeasurement:
    start = time.perf_counter()
    child = subprocess.Popen(command)
    stages: dict[str, StageFigures] = {}
    peak = 0
    previous = time.perf_counter()
    while child.poll() is None:
        pids = _tree(child.pid)
        total = sum(_rss_bytes(pid) for pid in pids)
        now = time.perf_counter()
        stage = stages.setdefault(_stage_of(pids), StageFigures())
        stage.peak_tree_rss_bytes = max(stage.peak_tree_rss_bytes, total)
        stage.seconds += now - previous
        previous = now
        peak = max(peak, total)
        time.sleep(POLL_SECONDS)
    for stage in stages.values():
        stage.seconds = round(stage.seconds, 2)
    return TreeMeasurement(command, child.returncode, round(time.perf_counter() - start, 2), peak, stages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    result = measure(command)
    print(f"\n{'stage':<14} {'peak tree RSS GiB':>18} {'seconds':>9}")
    for name, stage in result.stages.items():
        print(f"{name:<14} {stage.peak_tree_rss_bytes / GIB:>18.2f} {stage.seconds:>9.1f}")
    print(f"{'whole run':<14} {result.peak_tree_rss_bytes / GIB:>18.2f} {result.wall_seconds:>9.1f}   exit {result.exit_code}")
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    sys.exit(result.exit_code)


if __name__ == "__main__":
    main()
