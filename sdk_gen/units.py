"""Byte counts as people read them."""

from __future__ import annotations

# Binary byte units: the one definition every module and test imports (none defines its own).
KIB = 1024
MIB = 1024**2
GIB = 1024**3


def human_bytes(count: int | float) -> str:
    """Binary units, three significant figures: 1.56 GiB, 320 MiB, 12.0 KiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < KIB or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if abs(value) >= 100 else f"{value:.2f} {unit}"
        value /= KIB
    raise AssertionError("unreachable")
