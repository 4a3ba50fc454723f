"""scripts/setup.sh and .ci/run: what a machine that has never seen sdkgen runs first.

The install itself is proven by CI (`.ci/run` runs setup against empty caches); these tests hold
the scripts' logic to that: a missing cache folder is a normal first run, a populated one is
used, a failing step says what failed and what to do, and the scripts pass shellcheck.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import android_toolchain as tc
from conftest import REPO

SCRIPTS = [REPO / "scripts" / "setup.sh", REPO / ".ci" / "run", *sorted((REPO / "scripts").glob("install-*.sh")),
           *sorted((REPO / "scripts" / "lib").glob("*.sh"))]


def _plan(env_overrides: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_overrides}
    return subprocess.run(["bash", "scripts/setup.sh", "--plan"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _cpu_key() -> str:
    done = subprocess.run(["bash", "-c", "grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-12"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_shellcheck(script):
    assert tc.shellcheck_errors(script) == ""


def test_a_missing_toolchain_cache_is_a_first_run_not_a_failure(tmp_path):
    # The cause of the silent `make demo` failure on fresh machines: the wheel cache folder does
    # not exist yet, and a failing `find` in a pipeline under `set -o pipefail` ended the script.
    cache = tmp_path / "never-created"
    done = _plan({"SDKGEN_TOOLCHAIN_DIR": str(cache)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sdist: to download" in done.stdout
    assert f"wheel: to build from the sdist (cached in {cache}/wheels/" in done.stdout
    assert not cache.exists()  # --plan changes nothing


def test_a_cached_wheel_is_found_and_used(tmp_path):
    from sdk_gen.runtimes.llamacpp.toolchain import VERSION

    wheels = tmp_path / "wheels" / _cpu_key()
    wheels.mkdir(parents=True)
    wheel = wheels / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl"
    wheel.write_bytes(b"not read by --plan")
    done = _plan({"SDKGEN_TOOLCHAIN_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wheel: {wheel}" in done.stdout


def test_xdg_cache_home_decides_the_cache_when_no_toolchain_dir_is_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SDKGEN_TOOLCHAIN_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    done = subprocess.run(["bash", "scripts/setup.sh", "--plan"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"toolchain cache: {tmp_path}/sdkgen" in done.stdout


def test_a_failing_step_says_what_failed_and_what_to_do(tmp_path):
    # A copy of the scripts with a broken package list: setup must stop with one FAILED line that
    # names the problem, not die silently.
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", copy / "scripts")
    shutil.copytree(REPO / "sdk_gen", copy / "sdk_gen", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "scripts" / "system-packages.txt").write_text("aapt   which:aapt2   extra\n")
    done = _plan({"SDKGEN_TOOLCHAIN_DIR": str(tmp_path / "cache")}, cwd=copy)
    assert done.returncode == 1
    assert "FAILED:" in done.stderr and "which:aapt2" in done.stderr and "command:NAME" in done.stderr


def test_a_machine_without_tools_plans_the_kotlin_install(tmp_path):
    # No .tools folder at all (a fresh clone): reading the installed kotlinc's version must not
    # end the script (CI caught exactly that: sed on a missing file under pipefail).
    from sdk_gen import pins

    copy = tmp_path / "repo"
    shutil.copytree(REPO / "scripts", copy / "scripts")
    shutil.copytree(REPO / "sdk_gen", copy / "sdk_gen", ignore=shutil.ignore_patterns("__pycache__"))
    done = _plan({"SDKGEN_TOOLCHAIN_DIR": str(tmp_path / "cache")}, cwd=copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"kotlinc {pins.KOTLIN}: to install" in done.stdout and ".venv: to create" in done.stdout


def test_unknown_arguments_are_refused():
    done = subprocess.run(["bash", "scripts/setup.sh", "--frobnicate"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "usage: scripts/setup.sh [--plan]" in done.stderr


def test_ci_removes_only_the_extras_and_points_every_cache_at_an_empty_folder():
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci  # the README's test command, nothing else
    for variable in ("SDKGEN_TOOLCHAIN_DIR", "XDG_CACHE_HOME", "npm_config_cache"):
        assert f"{variable}=$cold" in ci
    rows = [line.split() for line in (REPO / "scripts/system-packages.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert all(len(row) == 3 and row[2] in ("base", "extra") for row in rows), rows
    extras = {row[0] for row in rows if row[2] == "extra"}
    assert {"aapt", "android-framework-res", "junit4", "libhamcrest-java"} <= extras
    assert "--one-file-system" in ci  # chroot mounts under the cold folder are never followed
