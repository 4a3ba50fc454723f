"""SHA-256 of files and folders, remembered across runs.

Hashing a multi-GB checkpoint on every run would make cache hits slow, so digests are
remembered per (path, size, mtime, inode), the way git's index trusts file stats. Any change
to a file's size or modification time makes it hashed again. This is for a model's (and an
adapter's) files only: a cached artifact is always re-read before reuse (cache.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from sdk_gen.units import MIB

_CHUNK = 4 * MIB


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FileHasher:
    """sha256 with a JSON memo file; safe to use without one (memo_path=None)."""

    def __init__(self, memo_path: Path | None):
        self.memo_path = memo_path
        self._memo: dict[str, dict] = {}
        self._dirty = False
        if memo_path and memo_path.is_file():
            try:
                memo = json.loads(memo_path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):
                memo = {}  # a damaged memo only costs re-hashing
            # Valid JSON of the wrong shape is as damaged as invalid JSON: start afresh.
            self._memo = memo if isinstance(memo, dict) else {}

    @staticmethod
    def _stamp(path: Path) -> tuple[str, list[int]]:
        stat = path.stat()
        return str(path.resolve()), [stat.st_size, stat.st_mtime_ns, stat.st_ino]

    def remembered(self, path: Path) -> str | None:
        """The digest on record for ``path`` as it is now, without reading it; None if unknown."""
        key, stamp = self._stamp(path)
        remembered = self._memo.get(key)
        if (
            isinstance(remembered, dict)
            and remembered.get("stamp") == stamp
            and isinstance(remembered.get("sha256"), str)
            and len(remembered["sha256"]) == 64
        ):
            return remembered["sha256"]
        return None

    def digest(self, path: Path) -> str:
        known = self.remembered(path)
        if known is not None:
            return known
        value = sha256_file(path)
        self.remember(path, value)
        return value

    def remember(self, path: Path, value: str) -> None:
        """Record a digest computed elsewhere (e.g. while the file was written)."""
        key, stamp = self._stamp(path)
        self._memo[key] = {"stamp": stamp, "sha256": value}
        self._dirty = True

    def save(self) -> None:
        if not (self.memo_path and self._dirty):
            return
        self.memo_path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.memo_path.with_suffix(f".{os.getpid()}.tmp")
        try:
            staging.write_text(json.dumps(self._memo))
            os.replace(staging, self.memo_path)
        except BaseException:
            with contextlib.suppress(OSError):
                staging.unlink()
            raise
        self._dirty = False


# What a converter may read from a Hugging Face folder is every file at its top (weights in any
# format: *.safetensors, pytorch_model*.bin, *.pt; configs; tokenizer files; custom code) plus the
# shards an index names, wherever they are. Only these are left out: they cannot change an artifact.
_IGNORED_NAMES = frozenset({"README.md", "README", "LICENSE", "LICENSE.md", "LICENSE.txt", "USE_POLICY.md", "NOTICE"})
_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _indexed_shards(folder: Path) -> set[Path]:
    """Files the weight indexes name (shards may live in subfolders); names leaving the folder are
    not followed (inspect refuses such an index)."""
    shards: set[Path] = set()
    for index_name in _INDEX_FILES:
        index = folder / index_name
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
        except (OSError, ValueError, AttributeError, RecursionError):
            continue
        if not isinstance(weight_map, dict):
            continue
        for shard in weight_map.values():
            if not isinstance(shard, str) or not shard:
                continue
            relative = os.path.normpath(shard)
            if os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
                continue
            path = folder / relative
            if path.is_file():
                shards.add(path)
    return shards


def _folder_files(folder: Path) -> list[Path]:
    top = {
        p for p in folder.iterdir()
        if not p.name.startswith(".") and p.name not in _IGNORED_NAMES and p.is_file()
    }
    return sorted(top | _indexed_shards(folder))


def folder_remembered(folder: Path, hasher: FileHasher) -> bool:
    """Whether every file folder_digest reads has a digest on record (so hashing it is free)."""
    return all(hasher.remembered(path) is not None for path in _folder_files(folder))


def folder_digest(folder: Path, hasher: FileHasher) -> str:
    """One digest over the files of a model (or adapter) folder that converters read."""
    files = _folder_files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode("utf-8", "surrogateescape"))
        digest.update(b"\0")
        digest.update(hasher.digest(path).encode())
        digest.update(b"\n")
    return digest.hexdigest()
