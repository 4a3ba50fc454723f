"""Progress for long work: one line per stage, with how long it took."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

from rich.console import Console


class Progress:
    """Stage lines on stdout ("==> exporting ... done in 23.1 s"); silent when quiet.

    Errors go to stderr as one line from the CLI, so progress never mixes into them.
    """

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.console = Console(file=sys.stdout, highlight=False)

    @contextlib.contextmanager
    def stage(self, title: str) -> Iterator[None]:
        start = time.perf_counter()
        if not self.quiet:
            if self.console.is_terminal:
                with self.console.status(title):
                    yield
            else:
                self.console.print(f"==> {title}")
                yield
            self.console.print(f"    {title}: done in {time.perf_counter() - start:.1f} s")
        else:
            yield

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(f"    {text}")
