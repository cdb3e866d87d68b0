"""A progress line on stderr during long runs: which cell, which phase, elapsed time.

On a terminal the line is redrawn in place (at most a few times a second);
otherwise (CI logs, pipes) only phase changes are printed, one line each.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_INTERVAL_S = 0.25


class Progress:
    """The progress display for one cell."""

    def __init__(self, cell: str, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.cell = cell
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.started = time.monotonic()
        self.phase_label = ""
        self._last_draw = 0.0
        self._width = 0

    def _line(self, detail: str = "") -> str:
        elapsed = time.monotonic() - self.started
        text = f"[{self.cell}] {self.phase_label}"
        if detail:
            text += f" ({detail})"
        return f"{text}  {elapsed:6.1f}s"

    def phase(self, label: str) -> None:
        """Enter a new phase: always shown."""
        if label == self.phase_label:
            return
        self.phase_label = label
        if not self.enabled:
            return
        if self.tty:
            self._draw(self._line())
        else:
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    def tick(self, detail: str = "") -> None:
        """Refresh the elapsed time (terminal only, rate-limited)."""
        if not self.tty:
            return
        now = time.monotonic()
        if now - self._last_draw >= REDRAW_INTERVAL_S:
            self._draw(self._line(detail))

    def _draw(self, text: str) -> None:
        self._last_draw = time.monotonic()
        pad = max(0, self._width - len(text))
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def done(self, status: str, reason: str = "") -> None:
        """End the line with the cell's outcome."""
        if not self.enabled:
            return
        self.phase_label = status
        line = self._line()
        if reason:
            line += f"  {reason}"
        if self.tty:
            self._draw(line)
            self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
