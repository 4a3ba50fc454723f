"""Byte counts as people read them."""

from __future__ import annotations


def human_bytes(count: int | float) -> str:
    """Binary units, three significant figures: 1.56 GiB, 320 MiB, 12.0 KiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if abs(value) >= 100 else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
