"""SHA-256 of files and folders, remembered across runs.

Hashing a multi-GB checkpoint on every run would make cache hits slow, so digests are
remembered per (path, size, mtime, inode), the way git's index trusts file stats. Any change
to a file's size or modification time makes it hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 4 * 1024 * 1024


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
                self._memo = json.loads(memo_path.read_text())
            except (OSError, ValueError):
                self._memo = {}  # a damaged memo only costs re-hashing

    @staticmethod
    def _stamp(path: Path) -> tuple[str, list[int]]:
        stat = path.stat()
        return str(path.resolve()), [stat.st_size, stat.st_mtime_ns, stat.st_ino]

    def remembered(self, path: Path) -> str | None:
        """The digest on record for ``path`` as it is now, without reading it; None if unknown."""
        key, stamp = self._stamp(path)
        remembered = self._memo.get(key)
        if remembered and remembered.get("stamp") == stamp:
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
        staging.write_text(json.dumps(self._memo))
        os.replace(staging, self.memo_path)
        self._dirty = False


# Files of a Hugging Face folder that decide what a converter produces.
_MODEL_FILE_PATTERNS = (
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "chat_template.jinja",
    "chat_template.json",
    "adapter_config.json",
    "vocab.json",
    "merges.txt",
)


def _folder_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in _MODEL_FILE_PATTERNS for p in folder.glob(pattern) if p.is_file()})


def folder_remembered(folder: Path, hasher: FileHasher) -> bool:
    """Whether every file folder_digest reads has a digest on record (so hashing it is free)."""
    return all(hasher.remembered(path) is not None for path in _folder_files(folder))


def folder_digest(folder: Path, hasher: FileHasher) -> str:
    """One digest over the files of a model (or adapter) folder that converters read."""
    files = _folder_files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(hasher.digest(path).encode())
        digest.update(b"\n")
    return digest.hexdigest()
