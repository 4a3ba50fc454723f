"""Ctrl-C, SIGTERM, a full disk and a read-only output: clean exits and nothing half-written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO


def default_sigint() -> None:
    """Give the child the default SIGINT disposition, as a terminal's foreground job has.

    A shell starts background jobs (CI runners, `make test &`) with SIGINT ignored, children
    inherit that, and Python then rightly leaves Ctrl-C ignored; the tests play a user at a terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sdkgen(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sdk_gen", *args],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


CONVERTER_MODULE = "sdk_gen.runtimes.litert.export"


def _converter_running(pid: int) -> bool:
    """Is `pid` still a live (not zombie) LiteRT converter? Reads /proc, so the answer is about
    this process only, never another sdkgen that happens to run on the same machine."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return CONVERTER_MODULE in cmdline and state != "Z"


def converter_children(parent: int) -> list[int]:
    """The converter processes `parent` started (the test's own sdkgen, by parent pid)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and _converter_running(int(stat.parent.name)):
            found.append(int(stat.parent.name))
    return found


def wait_for_converter_log(cache: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = list((cache / "v1" / "tmp").glob("convert-*/converter.log"))
        if logs and logs[0].stat().st_size > 0:
            return
        time.sleep(0.2)
    raise AssertionError("the converter never started")


@pytest.fixture(scope="module")
def warm_cache(demo_model, tmp_path_factory) -> Path:
    """A cache holding one finished int4 conversion, to show interruptions leave it intact."""
    cache = tmp_path_factory.mktemp("cache")
    code, out, err = finish(sdkgen("convert", "--model", str(demo_model), "--runtime", "litert", "--quant", "int4",
                                   "--context", "256", "--no-verify", "-o", str(cache.parent / "warm-out"), "--force",
                                   env={"SDKGEN_CACHE_DIR": str(cache)}))
    assert code == 0, err
    return cache


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "v1" / "artifacts").glob("*/*"))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_conversion_leaves_nothing_partial(demo_model, warm_cache, tmp_path, signum):
    before = entries(warm_cache)
    out = tmp_path / "out"
    process = sdkgen("convert", "--model", str(demo_model), "--runtime", "litert", "--quant", "int8", "--context", "256",
                     "-o", str(out), env={"SDKGEN_CACHE_DIR": str(warm_cache)})
    wait_for_converter_log(warm_cache)
    time.sleep(1.0)  # the export is under way in its child process
    converters = converter_children(process.pid)
    assert converters, "the converter child should be running"
    process.send_signal(signum)
    code, stdout, stderr = finish(process, timeout=120)

    assert code == 130
    assert stderr.strip().splitlines() == ["sdkgen: error: interrupted; nothing partial was left behind"]
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert list((warm_cache / "v1" / "tmp").iterdir()) == []  # the work folder is gone
    assert entries(warm_cache) == before  # no half-written entry was added
    assert [pid for pid in converters if _converter_running(pid)] == []  # the converter child was stopped too

    # And the cache is intact: the earlier conversion is still a valid hit.
    code, stdout, stderr = finish(sdkgen("convert", "--model", str(demo_model), "--runtime", "litert", "--quant", "int4",
                                         "--context", "256", "--no-verify", "-o", str(out), "--json",
                                         env={"SDKGEN_CACHE_DIR": str(warm_cache)}))
    assert code == 0, stderr
    assert json.loads(stdout)["cache"]["hit"] is True


def _can_mount_in_namespace() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not _can_mount_in_namespace(), reason="this machine does not allow mount namespaces (unshare -rm), needed to fake a full disk"
)


def in_namespace(script: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (tmpfs mounts vanish with it)."""
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@needs_mounts
def test_full_disk_for_the_output(demo_model, warm_cache, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=512k tmpfs {small} && "
        f"{sys.executable} -m sdk_gen convert --model {demo_model} --runtime litert --quant int4 --context 256 "
        f"--no-verify -o {small}/out; echo \"exit=$?\"; ls -A {small}"
    )
    done = in_namespace(script, {"SDKGEN_CACHE_DIR": str(warm_cache)})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "exit=2" in done.stdout
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert done.stdout.strip().splitlines()[-1] == "exit=2"  # ls printed nothing: no partial output


@pytest.mark.slow
@needs_mounts
def test_full_disk_for_the_cache(demo_model, tmp_path):
    small = tmp_path / "small-cache"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {small} && "
        f"{sys.executable} -m sdk_gen convert --model {demo_model} --runtime litert --quant f32 --context 256 "
        f"--no-verify -o {tmp_path}/out; echo \"exit=$?\"; find {small}/v1/artifacts -type f 2>/dev/null | wc -l; "
        f"ls -A {small}/v1/tmp"
    )
    done = in_namespace(script, {"SDKGEN_CACHE_DIR": str(small)})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    # A full cache disk is the user's to fix (exit 2, bad input), named with the way out.
    assert "exit=2" in done.stdout, done.stdout + done.stderr
    assert len(lines) == 1 and "No space left on device" in lines[0] and "SDKGEN_CACHE_DIR" in lines[0]
    assert "Traceback" not in done.stderr
    out_lines = done.stdout.strip().splitlines()
    assert out_lines[-1] == "0" or out_lines[-2:] == ["exit=2", "0"]  # no cache entry, no work folder left
    assert not (tmp_path / "out").exists()


@needs_mounts
def test_read_only_output(demo_model, tmp_path):
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    script = (
        f"mount -t tmpfs -o ro,size=1m tmpfs {frozen} && "
        f"{sys.executable} -m sdk_gen convert --model {demo_model} --runtime litert -o {frozen}/out; echo \"exit=$?\""
    )
    done = in_namespace(script, {"SDKGEN_CACHE_DIR": str(tmp_path / "cache")})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "exit=2" in done.stdout
    assert len(lines) == 1 and "read-only filesystem" in lines[0]
    assert not (tmp_path / "cache").exists()  # refused before any work


# Runs sdkgen with render_tree wrapped so that, once every template is rendered into the staging
# folder and before it is moved into place, the process signals itself: a real signal at a known
# point of rendering, with no timing guesswork.
_SIGNAL_WHILE_RENDERING = """
import os, sys, time
import sdk_gen.project as project

real_render_tree = project.render_tree

def render_then_signal(*args, **kwargs):
    written = real_render_tree(*args, **kwargs)
    print(f"rendered {len(written)} files", flush=True)
    os.kill(os.getpid(), int(sys.argv[1]))
    time.sleep(30)  # the signal arrives here
    return written

project.render_tree = render_then_signal
from sdk_gen.cli import main
main(sys.argv[2:])
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("platform, profile", [("android", "pixel8"), ("ios", "iphone15pro")])
def test_signal_while_rendering_leaves_no_project(demo_model, tmp_path, signum, platform, profile):
    out = tmp_path / "projects" / "App"
    out.parent.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_RENDERING, str(int(signum)), platform, "--model", str(demo_model),
         "--profile", profile, "--runtime", "llamacpp", "--quant", "q8_0", "--context", "256", "--no-verify", "-o", str(out)],
        cwd=REPO, env={**os.environ, "SDKGEN_CACHE_DIR": str(tmp_path / "cache")}, capture_output=True, text=True, timeout=600,
        preexec_fn=default_sigint,
    )
    assert "rendered" in done.stdout, done.stdout + done.stderr  # the signal came mid-render, not before
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines() == ["sdkgen: error: interrupted; nothing partial was left behind"]
    assert list(out.parent.iterdir()) == []  # neither the project nor its staging folder
