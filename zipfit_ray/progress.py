"""Progress of long phases: a tqdm bar on a terminal, plain periodic lines otherwise
(so `ray job logs` and CI logs stay readable)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm


def log(message: str, stream: TextIO | None = None) -> None:
    print(f"zipfit-ray: {message}", file=stream or sys.stderr, flush=True)


class Progress:
    """Counts ``done`` of ``total`` ``unit``; shows rate and ETA, and a free-form note."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        interval: float = 10.0,
        stream: TextIO | None = None,
    ) -> None:
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.stream = stream = stream or sys.stderr  # the one in use now, as log's
        self.done = 0
        self.note = ""
        self.started = self.last_line = time.monotonic()
        self.bar = (
            tqdm(total=total, desc=label, unit=f" {unit}", file=stream, unit_scale=True)
            if stream.isatty()
            else None
        )

    def advance(self, amount: int, note: str = "") -> None:
        self.done += amount
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(amount)
        elif time.monotonic() - self.last_line >= self.interval:
            self._line()

    def close(self) -> None:
        """The last word: close the bar, or print a final line."""
        if self.bar is not None:
            self.bar.close()
        else:
            self._line()

    def _line(self) -> None:
        self.last_line = now = time.monotonic()
        rate = self.done / max(now - self.started, 1e-9)
        eta = f"{(self.total - self.done) / rate:,.0f}s" if rate else "unknown"
        note = f", {self.note}" if self.note else ""
        log(
            f"{self.label}: {self.done:,}/{self.total:,} {self.unit}{note}, "
            f"{rate:,.0f} {self.unit}/s, ETA {eta}",
            self.stream,
        )


@contextmanager
def timed(seconds: dict[str, float], phase: str) -> Iterator[None]:
    """Add the seconds the block takes to ``seconds[phase]`` (summary.json's seconds)."""
    start = time.monotonic()
    yield
    seconds[phase] = round(time.monotonic() - start, 3)
