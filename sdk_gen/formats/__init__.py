"""Project formats. Built-ins are listed here; others register in the ``sdkgen.formats``
entry-point group (a ProjectFormat subclass whose template tree and `_format.toml` it ships)."""

from __future__ import annotations

from importlib.metadata import entry_points

from sdk_gen.errors import BadInput
from sdk_gen.formats.base import ProjectFormat
from sdk_gen.formats.gradle import GradleFormat
from sdk_gen.formats.xcodegen import XcodeGenFormat

BUILTIN_FORMATS: tuple[type[ProjectFormat], ...] = (GradleFormat, XcodeGenFormat)


def _format_classes() -> list[type[ProjectFormat]]:
    classes = list(BUILTIN_FORMATS)
    known = {cls.key for cls in classes}
    for entry in entry_points(group="sdkgen.formats"):
        if entry.name not in known:
            classes.append(entry.load())
            known.add(entry.name)
    return classes


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
