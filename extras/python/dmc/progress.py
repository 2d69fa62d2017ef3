"""Progress reporting for long work: a live tqdm bar on a terminal, a few plain lines elsewhere.

A bar redraws itself with carriage returns; in a log file or CI output every redraw becomes a
line (hundreds of KB for a short training run). So bars are shown only when their stream is a
terminal (or in a Jupyter kernel). Otherwise the same object prints one summary line when the
work is done and, for long work, a line at most every ``every`` seconds. ``DMC_PROGRESS=bars``
or ``DMC_PROGRESS=lines`` forces one mode.

Every long loop in the package goes through :func:`progress` and :func:`write`.
"""
from __future__ import annotations

import os
import sys
import time

from tqdm.auto import tqdm

HEARTBEAT_SECONDS = 60.0


def live_bars(stream=None) -> bool:
    """Whether bars should be drawn on ``stream`` (default: stderr, where tqdm draws)."""
    mode = os.environ.get("DMC_PROGRESS", "").strip().lower()
    if mode in ("bars", "lines"):
        return mode == "bars"
    if "ipykernel" in sys.modules:          # notebooks render tqdm.auto as a widget
        return True
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):    # no isatty, or a closed stream
        return False


def progress(iterable=None, *, total=None, desc: str = "", unit: str = "it", enabled: bool = True,
             leave: bool = True, stream=None, every: float = HEARTBEAT_SECONDS, clock=time.monotonic):
    """A progress object with tqdm's interface (iterate it, ``update``, ``set_postfix``, ``close``):
    a tqdm bar on a terminal, a :class:`LineProgress` elsewhere, a silent pass-through when not
    ``enabled``. ``leave=False`` work (one epoch of many) prints no summary line of its own."""
    if not enabled or live_bars(stream):
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream, disable=not enabled)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, leave=leave, stream=stream, every=every,
                        clock=clock)


def write(message: str, stream=None) -> None:
    """Print a line without breaking a live bar (``tqdm.write``); plain print elsewhere."""
    tqdm.write(message, file=stream)


def _plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("ch", "sh", "s", "x")) else "s")


class LineProgress:
    """tqdm's interface for streams that are not terminals: a line every ``every`` seconds at most
    while running, and one line when done (if ``leave``)."""

    def __init__(self, iterable=None, total=None, desc="", unit="it", leave=True, stream=None,
                 every=HEARTBEAT_SECONDS, clock=time.monotonic):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.total, self.desc, self.unit, self.leave = iterable, total, desc, unit, leave
        self.stream, self.every, self.clock = stream, every, clock
        self.n, self.postfix, self.closed = 0, "", False
        self.start = self.last_line = clock()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last_line >= self.every:
            self.last_line = now
            self._line(now)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.leave:
            self._line(self.clock(), done=True)

    def _line(self, now: float, done: bool = False) -> None:
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        unit = self.unit if self.n == 1 and self.total in (None, 1) else _plural(self.unit)
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total and not done else ""
        text = f"{self.desc + ': ' if self.desc else ''}{count} {unit}{pct} {'in' if done else 'after'} " \
               f"{now - self.start:.1f} s{', ' + self.postfix if self.postfix else ''}"
        print(text, file=self.stream if self.stream is not None else sys.stderr, flush=True)
