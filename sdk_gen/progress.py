"""Progress for long work: one line per stage, what it is doing, an estimate, and how long it took."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Iterator, Sequence

from rich.console import Console

# How often a long stage says it is still running, when stdout is not a terminal (CI logs).
HEARTBEAT_SECONDS = 30.0


def duration(seconds: float) -> str:
    """`45 s`, `2 min 05 s`, `1 h 02 min`: how people read a wait."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def estimate_seconds(points: Sequence[tuple[float, float]], params: float) -> float | None:
    """Seconds for a model of ``params`` parameters, interpolated between measured (parameters,
    seconds) points and extended past the last two with their slope; None without points."""
    if not points:
        return None
    ordered = sorted(points)
    if len(ordered) == 1 or params <= ordered[0][0]:
        return ordered[0][1]
    for (x0, y0), (x1, y1) in zip(ordered, ordered[1:]):
        if params <= x1:
            return y0 + (y1 - y0) * (params - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = ordered[-2], ordered[-1]
    return y1 + (y1 - y0) * (params - x1) / (x1 - x0)


class Progress:
    """Stage lines on stdout ("==> exporting (about 2 min) ... done in 1 min 53 s"); silent when quiet.

    A long stage says how long it has been running against its estimate: a live status line on a
    terminal, a line every HEARTBEAT_SECONDS in a log. Errors go to stderr as one line from the CLI,
    so progress never mixes into them.
    """

    def __init__(self, quiet: bool = False, heartbeat_seconds: float = HEARTBEAT_SECONDS):
        self.quiet = quiet
        self.heartbeat_seconds = heartbeat_seconds
        self.console = Console(file=sys.stdout, highlight=False)

    @contextlib.contextmanager
    def stage(self, title: str, estimate: float | None = None) -> Iterator[None]:
        if self.quiet:
            yield
            return
        start = time.perf_counter()
        expected = f" (estimate {duration(estimate)})" if estimate else ""

        def so_far() -> str:
            return f"{title}: {duration(time.perf_counter() - start)} so far{expected}"

        if self.console.is_terminal:
            with self.console.status(f"{title}{expected}") as status, self._ticking(1.0, lambda: status.update(so_far())):
                yield
        else:
            self.console.print(f"==> {title}{expected}")
            with self._ticking(self.heartbeat_seconds, lambda: self.console.print(f"    {so_far()}")):
                yield
        self.console.print(f"    {title}: done in {time.perf_counter() - start:.1f} s")

    @staticmethod
    @contextlib.contextmanager
    def _ticking(every: float, say) -> Iterator[None]:
        """Call ``say`` every ``every`` seconds until the block ends."""
        done = threading.Event()

        def tick() -> None:
            while not done.wait(every):
                say()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"    {text}")
