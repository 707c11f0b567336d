"""Progress bars that suit a terminal and a log alike: every progress bar of the project.

On a terminal tqdm redraws one line in place. Anywhere else (a log file, CI, ``2>file``, a
pipe) each redraw is a carriage return, and a training run leaves thousands of them in the log.
There the same bar is written as a plain line at most every :data:`LOG_EVERY_S` seconds, plus
its last state, so a log still says how far a long command got and how fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

#: Seconds between two progress lines when stderr is not a terminal.
LOG_EVERY_S = 30.0
#: A task done sooner leaves no progress line in a log (its result says enough).
LOG_AFTER_S = 2.0


class _Lines:
    """A file for tqdm that turns its in-place redraws into whole lines, never repeated."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""

    def write(self, text: str) -> int:
        for part in text.replace("\r", "\n").split("\n"):
            line = part.strip()
            if line and line != self._last:
                self._stream.write(line + "\n")
                self._last = line
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    iterable: Iterable[Any] | None = None, *, stream: TextIO | None = None, **options: Any
) -> tqdm[Any]:
    """tqdm on a terminal; periodic plain lines elsewhere. ``options`` are tqdm's."""
    out = stream if stream is not None else sys.stderr
    if is_terminal(out):
        return tqdm(iterable, file=out, **options)
    options.setdefault("mininterval", LOG_EVERY_S)
    options.setdefault("delay", LOG_AFTER_S)
    options["leave"] = True  # a log keeps the final state; a terminal may clear it
    return tqdm(iterable, file=_Lines(out), ascii=True, **options)
