"""Shared fixtures: the demo model, tiny models of each family, and an in-process CLI runner."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
PUBLISHED_CONFIGS = FIXTURES / "configs"


def pytest_addoption(parser):
    parser.addoption(
        "--skip-slow",
        action="store_true",
        help="skip the end-to-end conversions marked slow (CI runs them)",
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--skip-slow"):
        return
    skip = pytest.mark.skip(reason="--skip-slow given: end-to-end conversion left to CI")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """Run `sdkgen ARGS` in this process, as the console script would, and capture everything."""
    from sdk_gen.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    code = 0
    try:
        if cwd:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> Path:
    """The built-in tiny demo model, written once per test session."""
    from sdk_gen.model.demo import write_demo_model

    return write_demo_model(tmp_path_factory.mktemp("models") / "demo")


@pytest.fixture(scope="session")
def stub_classes(tmp_path_factory) -> Path:
    """tests/stubs compiled once per session (javac, then kotlinc) for every module that compiles
    generated Kotlin against them."""
    import android_toolchain as tc

    return tc.build_stubs(tmp_path_factory.mktemp("stubs"))


def tree_snapshot(folder: Path) -> set[str]:
    """Every path under ``folder``: tests compare snapshots to prove nothing was written."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}
