"""A content-addressed cache of converted artifacts.

An entry's key is the SHA-256 of everything that decides the artifact's bytes: the model's
files, the adapter's, the conversion options and the toolchain versions. Entries are written
to a staging folder inside the cache and renamed into place whole, so an interrupted conversion
leaves no entry. Before reuse an entry's record is validated (its file name stays inside the
entry, no links, types checked, the inputs match the key) and the artifact's size and SHA-256 are
checked by reading it, never trusted by file stats: a damaged entry is deleted and rebuilt, never
used. (File stats spare re-reading the MODEL only; see hashing.py.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sdk_gen.hashing import FileHasher, sha256_file

CACHE_LAYOUT = "v1"
_ENTRY_FILE = "entry.json"
# Beside an entry: its last passed host verification (ConversionResult.verification), reused on a hit.
_VERIFICATION_FILE = "verification.json"


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
        """The entry for ``key`` if present and intact; a damaged entry is removed.

        The artifact is read and hashed every time (never trusted by its file stats): it is what
        ships, so a flipped byte must make a rebuild, not a project with the wrong SHA-256.
        """
        entry_dir = self._entry_dir(key)
        record = entry_dir / _ENTRY_FILE
        if not record.is_file() and not entry_dir.is_symlink():
            return None
        meta = _valid_entry(entry_dir, key)
        if meta is None:
            self.discard(key)
            return None
        return CachedArtifact(key, entry_dir / meta["file"], meta["bytes"], meta["sha256"], meta["inputs"])

    def discard(self, key: str) -> None:
        """Remove the entry for ``key`` (damaged): never follow a link out of the cache."""
        entry_dir = self._entry_dir(key)
        if entry_dir.is_symlink() or entry_dir.is_file():
            with contextlib.suppress(OSError):
                entry_dir.unlink()
        else:
            shutil.rmtree(entry_dir, ignore_errors=True)

    def verification_record(self, key: str, inputs: dict) -> dict | None:
        """A passed verification stored with entry ``key`` under the same ``inputs``, else None."""
        try:
            record = json.loads((self._entry_dir(key) / _VERIFICATION_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("inputs") != inputs or not isinstance(record.get("result"), dict):
            return None
        return record["result"]

    def store_verification(self, key: str, inputs: dict, result: dict) -> None:
        entry_dir = self._entry_dir(key)
        if not entry_dir.is_dir() or entry_dir.is_symlink():
            return
        with tempfile.NamedTemporaryFile("w", dir=entry_dir, suffix=".part", delete=False, encoding="utf-8") as partial:
            json.dump({"inputs": inputs, "result": result, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, partial)
        os.replace(partial.name, entry_dir / _VERIFICATION_FILE)

    def reference_dir(self, identity_inputs: dict) -> Path:
        """Where PyTorch's answers for one model (and adapter) are kept, whatever it is converted to."""
        return self.root / "references" / cache_key({"model": identity_inputs["model"], "adapter": identity_inputs["adapter"]})

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
            if entry_dir.exists() or entry_dir.is_symlink():
                self.discard(key)  # a damaged entry lookup() already rejected
            os.rename(entry_staging, entry_dir)
        except BaseException:
            shutil.rmtree(entry_staging, ignore_errors=True)
            raise
        return CachedArtifact(key, entry_dir / artifact.name, meta["bytes"], meta["sha256"], inputs)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def safe_entry_name(name: object) -> bool:
    """A plain file name that stays inside its entry folder: no separators, no `..`, no controls."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..", _ENTRY_FILE)
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and len(name.encode("utf-8", "surrogatepass")) <= 255
    )


def _valid_entry(entry_dir: Path, key: str) -> dict | None:
    """entry.json's record if the entry is whole and its artifact hashes to it, else None."""
    try:
        if entry_dir.is_symlink() or not entry_dir.is_dir():
            return None
        record = entry_dir / _ENTRY_FILE
        if record.is_symlink():
            return None
        meta = json.loads(record.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            return None
        name, size, digest = meta.get("file"), meta.get("bytes"), meta.get("sha256")
        inputs = meta.get("inputs", {})
        if not safe_entry_name(name) or not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            return None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or not isinstance(inputs, dict):
            return None
        if inputs and cache_key(inputs) != key:
            return None  # the record describes another conversion
        artifact = entry_dir / name
        if artifact.is_symlink() or not artifact.is_file():
            return None
        if os.path.dirname(os.path.realpath(artifact)) != os.path.realpath(entry_dir):
            return None
        if artifact.stat().st_size != size or sha256_file(artifact) != digest:
            return None
    except (OSError, ValueError, TypeError, RecursionError):
        return None
    return {"file": name, "bytes": size, "sha256": digest, "inputs": inputs}
