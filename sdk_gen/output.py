"""Writing outputs all-or-nothing.

Everything sdkgen writes is built in a temporary folder beside the target (same filesystem, so
the final rename is atomic) and moved into place only when complete. An existing target is
replaced only with --force, only when sdkgen itself wrote it (it holds sdkgen-report.json,
sdkgen.toml or sdkgen-demo.json, or is empty), and then atomically: the old one is moved aside
first and removed only after the new one is in place. An output can never be, hold or sit inside
the model, the adapter or the cache (``protected``): that is checked before any work starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

from sdk_gen.errors import BadInput

# Files only sdkgen writes at the top of its outputs: a folder holding one is sdkgen's to replace.
SDKGEN_MARKERS = ("sdkgen-report.json", "sdkgen.toml", "sdkgen-demo.json")
# Room the staging and retired folders' names (".NAME.partial-XXXXXXXX") need beyond NAME.
_STAGING_NAME_EXTRA = len(".") + len(".partial-") + 8


def _real(path: Path) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(str(path))))


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def check_not_overlapping(dest: Path, protected: Mapping[str, Path | None]) -> None:
    """Refuse an output that is, holds or sits inside one of ``protected`` (label -> folder)."""
    target = _real(dest)
    for label, path in protected.items():
        if path is None:
            continue
        guarded = _real(path)
        if _inside(target, guarded):
            where = "is" if target == guarded else "is inside"
            raise BadInput(f"output {dest} {where} the {label} ({path}); choose an -o path outside it")
        if _inside(guarded, target):
            raise BadInput(f"output {dest} holds the {label} ({path}); replacing it would delete it: choose another -o path")


def written_by_sdkgen(folder: Path) -> bool:
    """Whether ``folder`` is one sdkgen wrote (its marker files), or empty, so --force may replace it."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return False
    return not names or any((folder / marker).is_file() and not (folder / marker).is_symlink() for marker in SDKGEN_MARKERS
                            if marker in names)


def check_output_target(dest: Path, force: bool, protected: Mapping[str, Path | None] | None = None) -> Path:
    """Validate an output folder before any work starts; return it made absolute."""
    try:
        return _check_output_target(dest, force, protected or {})
    except UnicodeEncodeError:
        raise BadInput(f"output path {ascii(str(dest))} is not valid UTF-8; choose another -o path") from None
    except OSError as exc:
        raise BadInput(f"cannot use output {dest} ({exc.strerror or exc}); choose another -o path") from None


def _check_output_target(dest: Path, force: bool, protected: Mapping[str, Path | None]) -> Path:
    dest = Path(os.path.abspath(dest.expanduser()))
    str(dest).encode("utf-8")  # surrogate escapes from undecodable bytes: refused (UnicodeEncodeError)
    if dest == Path(dest.anchor):
        raise BadInput(f"output {dest} is a filesystem root; choose a folder for sdkgen to create")
    check_not_overlapping(dest, protected)
    if dest.is_symlink():
        raise BadInput(f"output {dest} is a symbolic link; pass a real folder path (sdkgen does not write through links)")
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"output {dest} exists and is not a folder; choose another -o path")
    if dest.exists() and not force:
        raise BadInput(f"output {dest} already exists; pass --force to replace it, or choose another -o path")
    if dest.exists() and not written_by_sdkgen(dest):
        raise BadInput(
            f"output {dest} exists and was not written by sdkgen (no {' or '.join(SDKGEN_MARKERS[:2])} in it); --force "
            "replaces only sdkgen's own outputs: choose another -o path or empty the folder yourself"
        )
    parent = _existing_ancestor(dest.parent)
    name_max = os.statvfs(parent).f_namemax or 255
    if len(os.fsencode(dest.name)) + _STAGING_NAME_EXTRA > name_max:
        raise BadInput(
            f"output folder name {dest.name[:40]}... is too long ({len(os.fsencode(dest.name))} bytes; this filesystem "
            f"allows {name_max - _STAGING_NAME_EXTRA} for an output); choose a shorter -o path"
        )
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
def atomic_output_dir(dest: Path, force: bool, protected: Mapping[str, Path | None] | None = None) -> Iterator[Path]:
    """Yield a fresh folder to fill; on success it becomes ``dest``, on any error it vanishes."""
    dest = check_output_target(dest, force, protected)
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
    if dest.is_symlink() or not dest.is_dir() or not written_by_sdkgen(dest):  # changed while we worked
        raise BadInput(f"output {dest} changed while sdkgen was writing and is not an sdkgen output; choose another -o path")
    retired = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, retired / dest.name)
    try:
        os.rename(staging, dest)
    except BaseException:
        os.rename(retired / dest.name, dest)  # put the old one back
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
