"""Progress reports on stderr: a rich live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from cowlab.check.result import Stats, current_rss_mb


def _line(stats: Stats, queue: int) -> str:
    return (
        f"states {stats.transitions:,}  distinct {stats.distinct:,}  queue {queue:,}  "
        f"depth {stats.max_depth}  {stats.rate(stats.distinct):,.0f} distinct/s  "
        f"{current_rss_mb():,.0f} MB"
    )


class ProgressReporter:
    """Callable the search invokes about twice a second; prints every ``every`` s."""

    def __init__(self, every: float = 3.0, stream: object = None) -> None:
        self.every = every
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()  # type: ignore[union-attr]
        self._last = time.monotonic()
        self._live: Live | None = None
        if self.tty:
            self._live = Live(
                Text(""),
                console=Console(file=self.stream),
                transient=True,  # type: ignore[arg-type]
                refresh_per_second=4,
            )
            self._live.start()

    def __call__(self, stats: Stats, queue: int) -> None:
        if self._live is not None:
            self._live.update(Text(_line(stats, queue)))
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print("cowlab check: " + _line(stats, queue), file=self.stream, flush=True)  # type: ignore[call-overload]

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
