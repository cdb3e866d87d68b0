"""The subject's event stream: JSON lines it writes, the orchestrator reads.

One object per line, each with ``t`` (``time.monotonic()``, the same clock the
orchestrator's psutil samples use, so the two join by time) and ``event``:

- ``phase``: the workload entered a phase (``{"label": "connecting"}``);
- ``checkpoint``: a measurement point (``{"label": "1000 connected",
  "connections": 1000, "rss": 51380224, ...}``);
- ``sample``: a periodic reading inside a loop (stability cycles);
- ``result``: the workload's raw totals (frames sent and received...);
- ``error``: the workload could not run (``{"reason": "..."}``), written just
  before the subject exits non-zero.

Each line is flushed as written: a subject that crashes leaves every event
before the crash on disk.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

Event = dict[str, Any]


class EventLog:
    """Appends events to a file (or discards them when no path is given)."""

    def __init__(self, path: Path | None, *, abort_after_checkpoints: int = 0) -> None:
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path is not None else None
        self.last: Event | None = None
        # Test hook (``--inject-crash``): abort the process after this many checkpoints.
        self._abort_after = abort_after_checkpoints
        self._checkpoints = 0

    def emit(self, event: str, **fields: Any) -> Event:
        record: Event = {"t": time.monotonic(), "event": event, **fields}
        self.last = record
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()
        return record

    def phase(self, label: str) -> Event:
        return self.emit("phase", label=label)

    def checkpoint(self, label: str, **fields: Any) -> Event:
        record = self.emit("checkpoint", label=label, **fields)
        self._checkpoints += 1
        if self._abort_after and self._checkpoints >= self._abort_after:
            os.abort()  # the injected crash: SIGABRT, no cleanup, as a native fault would
        return record

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_events(path: Path) -> list[Event]:
    """Every complete event in ``path`` (a torn last line from a crash is skipped)."""
    if not path.is_file():
        return []
    return list(_parse(path.read_text(encoding="utf-8", errors="replace").splitlines()))


def _parse(lines: list[str]) -> Iterator[Event]:
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "event" in record and "t" in record:
            yield record


class EventTail:
    """Reads events as they are appended (for the progress line while the subject runs)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = ""

    def new_events(self) -> list[Event]:
        try:
            with self._path.open("r", encoding="utf-8", errors="replace") as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except OSError:
            return []
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()  # an incomplete last line waits for the rest
        return list(_parse(lines))
