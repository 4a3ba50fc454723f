"""Run a toolchain in a child process with its output captured to a log file.

Converters print hundreds of lines (progress bars, framework warnings); sdkgen keeps them in a
log and, on failure, reports the last line that reads like an error plus the log's path. A
child is terminated when sdkgen is interrupted, so Ctrl-C never leaves a converter running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from sdk_gen.units import GIB, KIB

_ERROR_LINE = re.compile(r"(Error|Exception|error:|FAILED|Traceback|not supported|Unsupported)", re.IGNORECASE)
_NOISE = re.compile(r"^\s*(File \"|\^|~|During handling|The above exception)")


class Superseded(Exception):
    """The child was stopped because its result was no longer needed (see run_python_module)."""


_POLL_SECONDS = 0.1


class ChildExit(int):
    """A child's exit code (an int, as before) that also knows the signal that ended it, if any,
    and the child's peak resident memory (from the kernel's rusage when it was reaped)."""

    signal: int | None
    peak_rss_bytes: int

    def __new__(cls, code: int, peak_rss_bytes: int = 0) -> "ChildExit":
        value = super().__new__(cls, code)
        value.signal = -code if code < 0 else None
        value.peak_rss_bytes = peak_rss_bytes
        return value


def _reap(child: subprocess.Popen, timeout: float | None) -> ChildExit:
    """Wait for ``child`` like Popen.wait, but through wait4 so its peak memory is known."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            child.returncode = code
            # ru_maxrss is in KiB on Linux. It survives exec, so a child smaller than sdkgen itself
            # reports sdkgen's size at the fork (see bench/host_run.py); for the children this is
            # for (converters, verifiers: far larger than the CLI), the figure is the child's own.
            return ChildExit(code, usage.ru_maxrss * KIB)
        if deadline is not None and time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(child.args, timeout)
        time.sleep(0.02)


def describe_exit(code: int, log_path: Path) -> str:
    """Why a child failed, for one line: the signal that killed it (with its measured peak memory
    and this machine's total, since SIGKILL from nowhere is usually the out-of-memory killer),
    else the telling line of its log."""
    if isinstance(code, ChildExit) and code.signal:
        try:
            name = signal.Signals(code.signal).name
        except ValueError:
            name = f"signal {code.signal}"
        peak = code.peak_rss_bytes / GIB
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
        cause = " (most likely the kernel's out-of-memory killer)" if code.signal == signal.SIGKILL else ""
        return (f"it was killed by {name}{cause} after reaching {peak:.1f} GiB of memory; this machine has "
                f"{total:.1f} GiB: close other programs or use a machine with more memory")
    return last_error_line(log_path)


def run_python_module(
    module: str, args: list[str], log_path: Path, env: dict | None = None, stop: threading.Event | None = None
) -> ChildExit:
    """Run ``python -m module args...``; return its exit code. Output goes to ``log_path``.

    When ``stop`` is set while the child runs, the child is terminated and Superseded raised.
    """
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,  # we forward interrupts ourselves, then clean up
        )
        try:
            if stop is None:
                return _reap(child, None)
            while True:
                try:
                    return _reap(child, _POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    if stop.is_set():
                        _stop(child)
                        raise Superseded(module) from None
        except BaseException:
            _stop(child)
            raise


def _stop(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=10)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def last_error_line(log_path: Path) -> str:
    """The most telling line of a failed run's log (the exception message, usually last)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "no log was written"
    return telling_line(lines)


def telling_line(lines: list[str]) -> str:
    """The last line of a tool's output that reads like an error, else its last line."""
    candidates = [line.strip() for line in lines if line.strip() and not _NOISE.match(line)]
    for line in reversed(candidates):
        if _ERROR_LINE.search(line) and not line.startswith("Traceback"):
            return line[:400]
    return candidates[-1][:400] if candidates else "the converter printed nothing"


# A child that refuses its input (rather than crashing) says why on a marked line and exits so.
BAD_INPUT_EXIT = 2
_BAD_INPUT_MARK = "SDKGEN-BAD-INPUT: "


def report_bad_input(error: Exception) -> int:
    """In a child: print the refusal where the parent will find it; return the exit code."""
    print(_BAD_INPUT_MARK + " ".join(str(error).split()), flush=True)
    return BAD_INPUT_EXIT


def run_converter(module: str, request: dict, log_path: Path, produced: Path, tool: str,
                  stop: threading.Event | None = None) -> None:
    """Run a runtime's converter child (``python -m module <request as JSON>``) and check it made
    ``produced``. A refusal the child reported becomes BadInput with its one line; any other end
    (a non-zero exit, a signal, a missing output) becomes ConversionFailed naming ``tool`` and how
    the child ended (describe_exit)."""
    import json

    from sdk_gen.errors import BadInput, ConversionFailed

    code = run_python_module(module, [json.dumps(request)], log_path, stop=stop)
    refusal = bad_input_reported(log_path) if code == BAD_INPUT_EXIT else None
    if refusal:
        raise BadInput(refusal)
    if code != 0 or not produced.is_file():
        raise ConversionFailed(f"{tool} failed: {describe_exit(code, log_path)}")


def bad_input_reported(log_path: Path) -> str | None:
    """In the parent: the refusal a child printed, if any."""
    try:
        for line in reversed(log_path.read_text(errors="replace").splitlines()):
            if line.startswith(_BAD_INPUT_MARK):
                return line[len(_BAD_INPUT_MARK):]
    except OSError:
        pass
    return None
