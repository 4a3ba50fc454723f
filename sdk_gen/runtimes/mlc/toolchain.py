"""The installed MLC LLM toolchain, and what its phone builds need besides.

MLC's wheels come from https://mlc.ai/wheels, not PyPI, so sdkgen never installs them; it finds
them. Importing mlc_llm loads TVM (slow, and it can abort the process on a bad install), so its
version is read in a child process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform as host_platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "pip install --pre -f https://mlc.ai/wheels mlc-llm-nightly-cpu mlc-ai-nightly-cpu "
    "(see https://llm.mlc.ai/docs/install/mlc_llm.html)"
)

_PROBE = """
import json
found = {}
try:
    import tvm
    found["tvm"] = getattr(tvm, "__version__", "unknown")
except Exception as error:
    found["tvm_error"] = f"{type(error).__name__}: {error}"
try:
    import mlc_llm
    found["mlc_llm"] = getattr(mlc_llm, "__version__", "unknown")
except Exception as error:
    found["mlc_llm_error"] = f"{type(error).__name__}: {error}"
try:
    from importlib.metadata import packages_distributions, version
    names = packages_distributions()
    found["requirements"] = sorted(
        f"{dist}=={version(dist)}" for module in ("mlc_llm", "tvm") for dist in names.get(module, [])
    )
except Exception:
    pass
print(json.dumps(found))
"""


def mlc_importable() -> bool:
    """Cheap: is there an mlc_llm package to import (without importing it)?"""
    return importlib.util.find_spec("mlc_llm") is not None and importlib.util.find_spec("tvm") is not None


@dataclass(frozen=True)
class MlcInstall:
    mlc_llm: str | None
    tvm: str | None
    problems: tuple[str, ...] = ()
    # pip requirements that reinstall exactly this toolchain (e.g. mlc-llm-nightly-cpu==0.20.dev78+g1a2b3c4)
    requirements: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return self.mlc_llm is not None and self.tvm is not None

    @property
    def source_ref(self) -> str | None:
        """The mlc-llm git ref the phone runtime must be built from (model lib ABI must match)."""
        return source_ref(self.mlc_llm) if self.mlc_llm else None


def source_ref(version: str) -> str | None:
    """git ref of mlc-llm's source for an installed version: "+g<hash>" builds name their commit;
    releases their tag."""
    match = re.search(r"\+g([0-9a-f]{7,40})", version)
    if match:
        return match.group(1)
    if re.fullmatch(r"\d+\.\d+\.\d+", version):
        return f"v{version}"
    return None


def probe_install(python: str = sys.executable, timeout: float = 120) -> MlcInstall:
    """Import tvm and mlc_llm in a child and report their versions (or why they fail)."""
    if not mlc_importable():
        missing = [name for name in ("mlc_llm", "tvm") if importlib.util.find_spec(name) is None]
        return MlcInstall(None, None, tuple(f"{name} is not installed" for name in missing))
    try:
        done = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=timeout)
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except (subprocess.TimeoutExpired, ValueError, IndexError) as error:
        return MlcInstall(None, None, (f"importing mlc_llm failed: {error}",))
    problems = tuple(found[key] for key in ("tvm_error", "mlc_llm_error") if key in found)
    if not found and done.returncode != 0:
        problems = (f"importing mlc_llm crashed (exit {done.returncode}): {done.stderr.strip()[-300:]}",)
    return MlcInstall(found.get("mlc_llm"), found.get("tvm"), problems, tuple(found.get("requirements", ())))


def install_command(requirements: list[str] | tuple[str, ...]) -> str:
    """The pip command that installs the given MLC toolchain (MLC's own wheel index)."""
    wanted = " ".join(f'"{r}"' for r in requirements) or "mlc-llm-nightly-cpu mlc-ai-nightly-cpu"
    return f"python -m pip install --pre -f https://mlc.ai/wheels {wanted}"


@dataclass(frozen=True)
class Requirement:
    """One thing a phone build of MLC's runtime needs, and whether this machine has it."""

    platform: str
    name: str
    found: str | None  # what was found (a path or version), None when missing
    how: str  # what to do when it is missing

    @property
    def ok(self) -> bool:
        return self.found is not None


@dataclass(frozen=True)
class DoctorReport:
    install: MlcInstall
    requirements: list[Requirement] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "mlc_llm": self.install.mlc_llm,
            "tvm": self.install.tvm,
            "mlc_source_ref": self.install.source_ref,
            "problems": list(self.install.problems),
            "requirements": [
                {"platform": r.platform, "name": r.name, "found": r.found, "ok": r.ok, "how": r.how} for r in self.requirements
            ],
        }


def _ndk() -> str | None:
    for variable in ("ANDROID_NDK", "ANDROID_NDK_HOME", "ANDROID_NDK_ROOT"):
        value = os.environ.get(variable)
        if value and (Path(value) / "build" / "cmake" / "android.toolchain.cmake").is_file():
            return value
    return None


def _command_output(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _rust_android_target() -> str | None:
    installed = _command_output(["rustup", "target", "list", "--installed"])
    if installed and "aarch64-linux-android" in installed.split():
        return "aarch64-linux-android"
    return None


def _source_dir() -> str | None:
    value = os.environ.get("MLC_LLM_SOURCE_DIR")
    return value if value and (Path(value) / "android" / "mlc4j").is_dir() else None


def requirements() -> list[Requirement]:
    """What `mlc_llm package` needs to build the Android and iOS runtimes (mlc4j, MLCSwift libs)."""
    java_home = os.environ.get("JAVA_HOME")
    xcode = _command_output(["xcodebuild", "-version"]) if host_platform.system() == "Darwin" else None
    return [
        Requirement("both", "MLC LLM source (MLC_LLM_SOURCE_DIR)", _source_dir(),
                    "git clone --recursive https://github.com/mlc-ai/mlc-llm at the installed version's commit; "
                    "export MLC_LLM_SOURCE_DIR=<that folder>"),
        Requirement("both", "cmake", shutil.which("cmake"), "install cmake 3.24 or newer"),
        Requirement("android", "Android NDK (ANDROID_NDK)", _ndk(),
                    "install the NDK with sdkmanager 'ndk;27.0.12077973' and export ANDROID_NDK=<its folder>"),
        Requirement("android", "TVM_NDK_CC", os.environ.get("TVM_NDK_CC"),
                    "export TVM_NDK_CC=$ANDROID_NDK/toolchains/llvm/prebuilt/<host>/bin/aarch64-linux-android24-clang"),
        Requirement("android", "JAVA_HOME", java_home if java_home and Path(java_home).is_dir() else None,
                    "install JDK 17 and export JAVA_HOME"),
        Requirement("android", "Rust target aarch64-linux-android", _rust_android_target(),
                    "install rustup, then: rustup target add aarch64-linux-android"),
        Requirement("ios", "Xcode", xcode.splitlines()[0] if xcode else None,
                    "iOS builds need macOS with Xcode (xcode-select --install and the full Xcode app)"),
    ]


def doctor() -> DoctorReport:
    return DoctorReport(probe_install(), requirements())
