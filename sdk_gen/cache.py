"""A content-addressed cache of converted artifacts.

An entry's key is the SHA-256 of everything that decides the artifact's bytes: the model's
files, the adapter's, the conversion options and the toolchain versions. Entries are written
to a staging folder inside the cache and renamed into place whole, so an interrupted conversion
leaves no entry. Before reuse an entry's size and SHA-256 are checked; a corrupt entry is
deleted and rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.hashing import FileHasher, sha256_file

CACHE_LAYOUT = "v1"
_ENTRY_FILE = "entry.json"


def default_cache_root() -> Path:
    explicit = os.environ.get("SDKGEN_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sdkgen"


def cache_key(inputs: dict) -> str:
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class CachedArtifact:
    key: str
    path: Path
    bytes: int
    sha256: str
    inputs: dict


class ArtifactCache:
    def __init__(self, root: Path | None = None):
        self.root = (root or default_cache_root()) / CACHE_LAYOUT
        self.hasher = FileHasher(self.root / "file-hashes.json")

    def _entry_dir(self, key: str) -> Path:
        return self.root / "artifacts" / key[:2] / key

    def lookup(self, key: str) -> CachedArtifact | None:
        """The entry for ``key`` if present and intact; a damaged entry is removed."""
        entry_dir = self._entry_dir(key)
        record = entry_dir / _ENTRY_FILE
        if not record.is_file():
            return None
        try:
            meta = json.loads(record.read_text())
            artifact = entry_dir / meta["file"]
            intact = (
                artifact.is_file()
                and artifact.stat().st_size == meta["bytes"]
                and self.hasher.digest(artifact) == meta["sha256"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            shutil.rmtree(entry_dir, ignore_errors=True)
            return None
        self.hasher.save()
        return CachedArtifact(key, artifact, meta["bytes"], meta["sha256"], meta.get("inputs", {}))

    def staging_dir(self) -> Path:
        """A fresh folder on the cache's filesystem for a conversion to work in."""
        parent = self.root / "tmp"
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="convert-", dir=parent))

    def keep_log(self, log_path: Path, label: str) -> str:
        """Copy a failed run's log out of its (soon deleted) work folder; say where it went."""
        kept = self.root / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}.log"
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log_path, kept)
        except OSError:
            return "no log could be kept"
        return f"full log: {kept}"

    def store(self, key: str, artifact: Path, inputs: dict) -> CachedArtifact:
        """Move ``artifact`` (inside a staging dir) into the cache as the entry for ``key``."""
        entry_staging = Path(tempfile.mkdtemp(prefix="entry-", dir=self.root / "tmp"))
        try:
            final_artifact = entry_staging / artifact.name
            os.replace(artifact, final_artifact)
            meta = {
                "file": artifact.name,
                "bytes": final_artifact.stat().st_size,
                "sha256": sha256_file(final_artifact),
                "inputs": inputs,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (entry_staging / _ENTRY_FILE).write_text(json.dumps(meta, indent=2))
            entry_dir = self._entry_dir(key)
            entry_dir.parent.mkdir(parents=True, exist_ok=True)
            if entry_dir.exists():
                shutil.rmtree(entry_dir)  # a damaged entry lookup() already rejected
            os.rename(entry_staging, entry_dir)
        except BaseException:
            shutil.rmtree(entry_staging, ignore_errors=True)
            raise
        self.hasher.remember(entry_dir / artifact.name, meta["sha256"])  # rename kept the bytes: no second read
        self.hasher.save()
        return CachedArtifact(key, entry_dir / artifact.name, meta["bytes"], meta["sha256"], inputs)
