"""Source lines for frames a sanitizer runtime left as ``(object+0xOFFSET)``.

gcc's sanitizer runtimes symbolize with their own DWARF reader, and it gives up
on some frames of a library that has full debug information: every frame of
mapbox_earcut's nanobind module (DWARF 5, templates) came out as
``in auto triangulate<float, unsigned int>(...) (_core.so+0x328faa)``, while
the nanobind frames of the same object had their ``file:line``, and
``addr2line -e _core.so 0x328faa`` gave ``src/main.cpp:31``. Such a frame names
no file, so attribution cannot tell it is the project's. ``fill`` asks
binutils' ``addr2line`` once per object for every such offset and puts the
answer in the frame, keeping the runtime's function name. Without
``addr2line`` (or with an object it cannot read) the frames stay as they were.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from pyharness import proc
from pyharness.model import Finding, Frame, Trace

TIMEOUT_S = 60.0


def _wanted(frame: Frame) -> bool:
    return frame.file is None and frame.object is not None and frame.offset is not None


def _frames(findings: Iterable[Finding]) -> Iterable[Frame]:
    for f in findings:
        yield from f.stack
        for trace in f.related:
            yield from trace.stack


def lookup(obj: str, offsets: Sequence[int]) -> dict[int, tuple[str, int]]:
    """``offset -> (file, line)`` for the offsets of ``obj`` that addr2line can place."""
    tool = shutil.which("addr2line")
    if tool is None or not offsets or not Path(obj).is_file():
        return {}
    spec = proc.LaunchSpec(
        (tool, "-e", obj, *(hex(o) for o in offsets)), dict(os.environ), TIMEOUT_S, label="addr2line"
    )
    result = proc.run(spec, sample_interval=None)
    if not result.ok:
        return {}
    out: dict[int, tuple[str, int]] = {}
    for offset, line in zip(offsets, result.stdout.splitlines(), strict=False):
        file, _, rest = line.strip().rpartition(":")
        number = rest.split(" ", 1)[0]  # "31 (discriminator 2)"
        if file and file != "??" and number.isdigit() and int(number) > 0:
            out[offset] = (file, int(number))
    return out


def fill(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """``findings`` with each ``(object+0xOFFSET)`` frame given the ``file:line`` addr2line finds."""
    wanted: dict[str, set[int]] = {}
    for frame in _frames(findings):
        if _wanted(frame):
            assert frame.object is not None and frame.offset is not None
            wanted.setdefault(frame.object, set()).add(frame.offset)
    if not wanted:
        return tuple(findings)
    places = {obj: lookup(obj, sorted(offsets)) for obj, offsets in wanted.items()}

    def placed(frame: Frame) -> Frame:
        if not _wanted(frame):
            return frame
        assert frame.object is not None and frame.offset is not None
        where = places.get(frame.object, {}).get(frame.offset)
        return frame if where is None else replace(frame, file=where[0], line=where[1])

    def trace(t: Trace) -> Trace:
        return replace(t, stack=tuple(placed(x) for x in t.stack))

    return tuple(
        replace(f, stack=tuple(placed(x) for x in f.stack), related=tuple(trace(t) for t in f.related))
        for f in findings
    )


__all__ = ["fill", "lookup"]
