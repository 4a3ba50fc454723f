"""A converter or verifier child that dies is reported by how it died: a signal (the kernel's
out-of-memory killer sends SIGKILL) with the child's measured peak memory, never as whatever line
its log happened to end with."""

from __future__ import annotations

import signal

from sdk_gen.subprocess_log import ChildExit, describe_exit, run_python_module
from sdk_gen.units import MIB

HOG = """
import os, signal, sys
block = bytearray(300 * 1024 * 1024)  # touched, so resident
for i in range(0, len(block), 4096):
    block[i] = 1
print("W1127 12:00:00 some framework warning", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_child_killed_by_sigkill_is_reported_with_its_peak(tmp_path):
    (tmp_path / "memory_hog.py").write_text(HOG)
    log = tmp_path / "child.log"
    code = run_python_module("memory_hog", [], log, env={"PYTHONPATH": str(tmp_path)})
    assert isinstance(code, ChildExit) and code == -signal.SIGKILL and code.signal == signal.SIGKILL
    assert code.peak_rss_bytes >= 300 * MIB
    message = describe_exit(code, log)
    assert "killed by SIGKILL" in message and "out-of-memory killer" in message and "GiB" in message
    assert "W1127" not in message  # the last log line is not the reason


def test_an_ordinary_failure_still_names_its_error(tmp_path):
    (tmp_path / "failing.py").write_text("raise ValueError('unsupported rope scaling: yarn')\n")
    log = tmp_path / "child.log"
    code = run_python_module("failing", [], log, env={"PYTHONPATH": str(tmp_path)})
    assert code == 1 and code.signal is None
    assert describe_exit(code, log) == "ValueError: unsupported rope scaling: yarn"
