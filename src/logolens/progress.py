"""Progress of long work: bars (rich), switched off for tests, pipes and ``--no-progress``, and a clock of where its time went."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")


def make_progress(enabled: bool) -> Progress:
    """A rich ``Progress`` on stderr (stdout stays clean for JSON output); inert when disabled."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """Iterate ``items`` showing a bar when ``enabled`` (``total`` defaults to ``len(items)`` where it has one)."""
    if not enabled:
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    with make_progress(True) as progress:
        task = progress.add_task(description, total=total, status="")
        for item in items:
            yield item
            progress.advance(task)


class PhaseClock:
    """Wall-clock seconds of each named phase of a long job, so a saved model can say where its
    training time went."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block, added to ``name``'s seconds (a phase entered twice sums)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._seconds[name] = self._seconds.get(name, 0.0) + time.perf_counter() - started

    @property
    def seconds(self) -> dict[str, float]:
        """Seconds per phase to 0.1 s, in the order the phases were first entered."""
        return {name: round(seconds, 1) for name, seconds in self._seconds.items()}
