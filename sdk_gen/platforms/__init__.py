"""Target platforms. Built-ins are listed here; others register in the ``sdkgen.platforms``
entry-point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from sdk_gen.errors import BadInput
from sdk_gen.platforms.android import AndroidPlatform
from sdk_gen.platforms.base import Platform
from sdk_gen.platforms.ios import IosPlatform

BUILTIN_PLATFORMS: tuple[type[Platform], ...] = (AndroidPlatform, IosPlatform)


def get_platform(key: str) -> Platform:
    for cls in BUILTIN_PLATFORMS:
        if cls.key == key:
            return cls()
    for entry in entry_points(group="sdkgen.platforms"):
        if entry.name == key:
            return entry.load()()
    raise BadInput(f"unknown platform {key!r}")


__all__ = ["Platform", "get_platform"]
