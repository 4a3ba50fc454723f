"""Where sdkgen keeps what it downloads once and reuses: toolchains, sdists, the Gradle wrapper.

Kept apart from the artifact cache (sdk_gen/cache.py), which tests and users relocate with
SDKGEN_CACHE_DIR. Standard library only: scripts/setup.sh imports the pins next to it before the
virtual environment holds anything.
"""

from __future__ import annotations

import os
from pathlib import Path


def toolchain_root() -> Path:
    explicit = os.environ.get("SDKGEN_TOOLCHAIN_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sdkgen"
