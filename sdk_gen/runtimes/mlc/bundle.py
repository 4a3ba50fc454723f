"""Reading the bundle sdkgen packs MLC's output into (see convert.py for its layout)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from sdk_gen.errors import ConversionFailed
from sdk_gen.runtimes.mlc.convert import BUNDLE_META


def read_bundle_meta(bundle: Path) -> dict:
    """sdkgen-mlc.json from an MLC bundle."""
    with tarfile.open(bundle) as archive:
        member = archive.extractfile(BUNDLE_META)
        if member is None:
            raise ConversionFailed(f"{bundle.name} is not an sdkgen MLC bundle (no {BUNDLE_META})")
        return json.loads(member.read().decode("utf-8"))
