"""Project formats. Built-ins are listed here; others register in the ``sdkgen.formats``
entry-point group (a ProjectFormat subclass whose `templates` folder holds its tree and
`_format.toml`)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Iterator

from sdk_gen.errors import BadInput
from sdk_gen.formats.base import ProjectFormat
from sdk_gen.formats.gradle import GradleFormat
from sdk_gen.formats.vite import ViteFormat
from sdk_gen.formats.xcodegen import XcodeGenFormat

BUILTIN_FORMATS: tuple[type[ProjectFormat], ...] = (GradleFormat, XcodeGenFormat, ViteFormat)


def _format_classes() -> Iterator[type[ProjectFormat]]:
    """Built-ins first; a plug-in is imported only when no earlier format answered, so a broken
    plug-in cannot break what the built-ins serve."""
    yield from BUILTIN_FORMATS
    known = {cls.key for cls in BUILTIN_FORMATS}
    for entry in entry_points(group="sdkgen.formats"):
        if entry.name in known:
            continue
        try:
            cls = entry.load()
        except Exception as exc:  # any import failure of someone else's package
            raise BadInput(f"the project format plug-in {entry.name!r} ({entry.value}) does not load: {exc!r}; fix or uninstall it") from None
        known.add(entry.name)
        yield cls


def get_format(key: str) -> ProjectFormat:
    for cls in _format_classes():
        if cls.key == key:
            return cls()
    raise BadInput(f"unknown project format {key!r}; choose one of: {', '.join(c.key for c in _format_classes())}")


def format_for_os(target_os: str) -> ProjectFormat:
    """The project format `sdkgen <os>` writes: the first (built-ins first) that serves the OS."""
    for cls in _format_classes():
        project_format = cls()
        if project_format.serves(target_os):
            return project_format
    raise BadInput(f"no project format writes {target_os} projects")


__all__ = ["ProjectFormat", "format_for_os", "get_format"]
