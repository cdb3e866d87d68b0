"""A live line per running cell on stderr: the cell, its phase, elapsed and expected time.

On a terminal the line is redrawn in place (a few times a second). Elsewhere
(CI logs, pipes) each phase change is printed as a line of its own, and while
a phase lasts a heartbeat line every ``HEARTBEAT_S`` says the cell is alive
and how far it is into its expected time, so a long valgrind cell never looks
hung in a CI log. Several cells at once (the self-test's workers) each print
their own lines, prefixed by the cell.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

REDRAW_INTERVAL_S = 0.25
HEARTBEAT_S = 30.0
_LOCK = threading.Lock()  # one line at a time, whichever cell writes it


def _clock(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


class Progress:
    """The progress display for one cell."""

    def __init__(
        self, cell: str, stream: TextIO | None = None, *, enabled: bool = True, inline: bool = True
    ) -> None:
        self.cell = cell
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        # Redraw in place only on a terminal and only when one cell runs at a time.
        self.tty = enabled and inline and self.stream.isatty()
        self.started = time.monotonic()  # the subject's clock: moved past the build by built()
        self.build_s = 0.0
        self.expected_s: float | None = None
        self.phase_label = ""
        self._last_draw = 0.0
        self._last_line = self.started
        self._width = 0

    def expect(self, seconds: float | None) -> None:
        """The cell's expected duration, shown beside the elapsed time."""
        self.expected_s = seconds

    def built(self) -> None:
        """The build is over: the elapsed time from here on is the subject's, the one expected."""
        now = time.monotonic()
        self.build_s += now - self.started
        self.started = now

    def _line(self, detail: str = "") -> str:
        elapsed = time.monotonic() - self.started
        timing = _clock(elapsed)
        if self.expected_s:
            timing += f" of ~{_clock(self.expected_s)}"
        if self.build_s >= 1.0:
            timing += f" (+{_clock(self.build_s)} build)"
        text = f"[{self.cell}] {self.phase_label}"
        if detail:
            text += f" ({detail})"
        return f"{text}  {timing}"

    def phase(self, label: str) -> None:
        """Enter a new phase: always shown."""
        if label == self.phase_label or not label:
            return
        self.phase_label = label
        if not self.enabled:
            return
        if self.tty:
            self._draw(self._line())
        else:
            self._print(self._line())

    def tick(self, detail: str = "") -> None:
        """Refresh the elapsed time (rate-limited); a heartbeat line in logs."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= REDRAW_INTERVAL_S:
                self._draw(self._line(detail))
        elif now - self._last_line >= HEARTBEAT_S:
            self._print(self._line(detail) + "  ...")

    def _print(self, text: str) -> None:
        self._last_line = time.monotonic()
        with _LOCK:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        self._last_draw = time.monotonic()
        pad = max(0, self._width - len(text))
        self._width = len(text)
        with _LOCK:
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
            with _LOCK:
                self.stream.write("\n")
                self.stream.flush()
        else:
            self._print(line)
