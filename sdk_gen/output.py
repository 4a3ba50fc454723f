"""Writing outputs all-or-nothing.

Everything sdkgen writes is built in a temporary folder beside the target (same filesystem, so
the final rename is atomic) and moved into place only when complete. An existing target is
replaced only with --force, and then atomically: the old one is moved aside first and removed
only after the new one is in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from sdk_gen.errors import BadInput


def check_output_target(dest: Path, force: bool) -> Path:
    """Validate an output folder before any work starts; return it made absolute."""
    dest = Path(os.path.abspath(dest.expanduser()))
    if dest.is_symlink():
        raise BadInput(f"output {dest} is a symbolic link; pass a real folder path (sdkgen does not write through links)")
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"output {dest} exists and is not a folder; choose another -o path")
    if dest.exists() and not force:
        raise BadInput(f"output {dest} already exists; pass --force to replace it, or choose another -o path")
    parent = _existing_ancestor(dest.parent)
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise BadInput(f"cannot write to {parent}: it is on a read-only filesystem; choose another -o path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write to {parent} (permission denied); choose another -o path")
    return dest


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


@contextlib.contextmanager
def atomic_output_dir(dest: Path, force: bool) -> Iterator[Path]:
    """Yield a fresh folder to fill; on success it becomes ``dest``, on any error it vanishes."""
    dest = check_output_target(dest, force)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    except OSError as exc:
        raise BadInput(f"cannot write to {dest.parent} ({exc.strerror}); choose another -o path") from None
    # mkdtemp makes the folder private (0700); the output should get the user's usual mode.
    os.chmod(staging, 0o777 & ~_current_umask())
    try:
        yield staging
        _move_into_place(staging, dest, force)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _move_into_place(staging: Path, dest: Path, force: bool) -> None:
    if not dest.exists():
        os.rename(staging, dest)
        return
    if not force:  # appeared while we worked
        raise BadInput(f"output {dest} appeared while sdkgen was writing; pass --force to replace it")
    retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, retired / dest.name)
    try:
        os.rename(staging, dest)
    except BaseException:
        os.rename(retired / dest.name, dest)  # put the old one back
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
