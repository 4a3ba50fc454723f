"""Where sdkgen's data (device profiles, templates) lives.

In a checkout (and an editable install) the data sits at the top of the repository, next to
the package. A wheel installs it under ``<prefix>/share/sdkgen``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str, must_exist: bool = True) -> Path:
    """Return the folder holding sdkgen's ``name`` data (``device_profiles`` or ``templates``).
    With ``must_exist=False`` a missing folder is not an error here (module-level facts name
    paths at import; whoever reads them finds out)."""
    candidates = [
        _PACKAGE_DIR.parent / name,
        Path(sys.prefix) / "share" / "sdkgen" / name,
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if not must_exist:
        return candidates[0]
    raise FileNotFoundError(
        f"sdkgen's {name} folder is missing (looked in {', '.join(map(str, candidates))}); reinstall sdkgen"
    )
