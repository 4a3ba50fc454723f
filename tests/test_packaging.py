"""A wheel of sdkgen carries its data: every template (dot-folders and modes included) and profile."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO

DATA = "sdkgen-{version}.data/data/share/sdkgen/"


def test_wheel_carries_templates_and_profiles(tmp_path):
    from sdk_gen import __version__

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("sdkgen-*.whl")
    prefix = DATA.format(version=__version__)
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename[len(prefix):]: info for info in archive.infolist() if info.filename.startswith(prefix)}
    expected = {
        p.relative_to(REPO).as_posix(): p
        for folder in ("templates", "device_profiles")
        for p in (REPO / folder).rglob("*")
        if p.is_file()
    }
    assert set(members) == set(expected)
    for name, path in expected.items():
        # Executable templates (scripts) keep their bit: render_tree copies it to the output.
        assert bool((members[name].external_attr >> 16) & 0o100) == bool(path.stat().st_mode & 0o100), name


def test_every_pin_has_one_source():
    """pyproject.toml must repeat the Python packages' pins (packaging reads it statically); they
    agree with sdk_gen/pins.py, and the installed kotlinc is the pinned one."""
    import json
    import tomllib

    from sdk_gen import pins

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    litert = project["project"]["optional-dependencies"]["litert"]
    assert f"mediapipe=={pins.MEDIAPIPE}" in litert and f"litert-lm-api=={pins.LITERTLM_HOST}" in litert
    # The phone packages follow the host's release line (major.minor).
    assert pins.LITERTLM_PHONE.rsplit(".", 1)[0] == pins.LITERTLM_HOST.rsplit(".", 1)[0]
    executorch = project["project"]["optional-dependencies"]["executorch"]
    assert f"executorch=={pins.EXECUTORCH_HOST}" in executorch
    assert pins.EXECUTORCH_ANDROID.rsplit(".", 1)[0] == pins.EXECUTORCH_HOST.rsplit(".", 1)[0]
    assert pins.EXECUTORCH_IOS.rsplit(".", 1)[0] == pins.EXECUTORCH_HOST.rsplit(".", 1)[0]
    package = REPO / ".tools/node_modules/kotlin-compiler/package.json"
    assert json.loads(package.read_text())["version"] == pins.KOTLIN
    for path in [REPO / "scripts/setup.sh", *sorted((REPO / "sdk_gen/formats").glob("*.py"))]:
        text = path.read_text()
        for value in (pins.KOTLIN, pins.MEDIAPIPE, pins.LITERTLM_PHONE):
            assert f'"{value}"' not in text and f"@{value}" not in text, (path, value)
