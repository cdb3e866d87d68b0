"""The memray capture parser on real captures (``tests/data/capture_memray.py`` made them).

memray resolves native frames when a capture is read, from the objects at the
paths it recorded: the ``objects`` fixture puts the kept debug objects back
there first (see the capture script's docstring).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyharness.attribution import Policy
from pyharness.errors import ParseError
from pyharness.model import Finding, ParsedCell
from pyharness.parsers import memray
from tests.conftest import THIS, require_module

POLICY = Policy.of(THIS)

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "tests" / "data" / "captures"
MEMRAY = CAPTURES / "memray"
CANARY_SOURCE = ROOT / "csrc" / "canaries" / "canaries_module.cpp"


def source_line(needle: str) -> int:
    """The 1-based line of ``needle`` in the canary source: the test follows the source, not a number."""
    for number, line in enumerate(CANARY_SOURCE.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {CANARY_SOURCE}")


def _link(recorded: Path, kept: Path) -> None:
    """``recorded`` made a symlink to ``kept`` (atomically: another test run may be reading it)."""
    if recorded.is_symlink() and recorded.resolve() == kept.resolve():
        return
    recorded.parent.mkdir(parents=True, exist_ok=True)
    temporary = recorded.with_name(f"{recorded.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(kept)
    os.replace(temporary, recorded)


@pytest.fixture(scope="module")
def objects() -> None:
    """memray importable (skip locally, fail under CI), and the captures' objects where they were."""
    require_module("memray", "pip install memray")
    manifest = json.loads((CAPTURES / "MANIFEST.json").read_text())["memray"]
    for recorded, kept in manifest["objects"].items():
        _link(Path(recorded), ROOT / kept)


def parse(case: str) -> ParsedCell:
    parsed = memray.make_parser().parse(MEMRAY / case)
    return ParsedCell(POLICY.attribute_all(parsed.findings), parsed.metrics)


def counted(parsed: ParsedCell) -> list[Finding]:
    return [f for f in parsed.findings if f.counts]


def metrics(parsed: ParsedCell) -> dict[str, float]:
    return {m.name: m.value for m in parsed.metrics}


@pytest.mark.parametrize("case", ["leak", "leak_aggregated"])
def test_leak_canary_is_found_and_attributed(objects: None, case: str) -> None:
    (leak,) = counted(parse(case))
    assert leak.tool == "memray" and leak.kind == "leak"
    assert leak.bytes == 4096 and leak.blocks == 1
    assert leak.project_frame is not None
    assert leak.project_frame.function == "canaries::leak(unsigned long)"
    assert leak.project_frame.file == "csrc/canaries/canaries_module.cpp"
    assert leak.project_frame.line == source_line("std::malloc(nbytes")
    # A hybrid stack: the native frames, then the Python code that called them.
    assert leak.stack[0].function == "canaries::leak(unsigned long)"
    assert any(f.file and f.file.endswith("snippet.py") for f in leak.stack)


def test_parser_leaves_findings_unattributed(objects: None) -> None:
    parsed = memray.make_parser().parse(MEMRAY / "leak")
    assert all(f.project_frame is None and not f.suppressed for f in parsed.findings)
    assert [f for f in parsed.findings if f.kind == "leak" and f.bytes == 4096]


def test_clean_canary_counts_nothing(objects: None) -> None:
    parsed = parse("clean")
    assert counted(parsed) == []
    leaks = [f for f in parsed.findings if f.kind == "leak"]
    # The interpreter's memory, still held when tracking stopped, is there and foreign.
    assert len(leaks) > 100 and all(f.suppressed for f in leaks)


def test_growth_is_reachable_not_a_leak_and_tops_the_peak(objects: None) -> None:
    parsed = parse("growth")
    assert counted(parsed) == []
    kept = [
        f
        for f in parsed.findings
        if f.kind == "leak" and any("canaries::grow" in fr.function for fr in f.stack)
    ]
    # Eight 64 KiB blocks held by grow()'s static vector of unique_ptr: still allocated when
    # tracking stopped, owned by a live RAII object, so not counted.
    assert sum(f.bytes or 0 for f in kept) >= 8 * 64 * 1024
    peaks = [f for f in parsed.findings if f.kind == "peak"]
    assert 0 < len(peaks) <= memray.PEAK_SITES
    assert all(f.informational and not f.counts for f in peaks)
    top = max(peaks, key=lambda f: f.bytes or 0)
    assert top.bytes == 8 * 64 * 1024 and top.blocks == 8
    assert top.project_frame is not None and top.project_frame.file == "csrc/canaries/canaries_module.cpp"
    assert metrics(parsed)["peak_memory"] >= 8 * 64 * 1024


def test_metrics(objects: None) -> None:
    parsed = parse("leak")
    values = metrics(parsed)
    units = {m.name: m.unit for m in parsed.metrics}
    assert units["peak_memory"] == "bytes" and values["peak_memory"] > 4096
    assert units["total_allocations"] == "records" and values["total_allocations"] > 1000
    # Everything unfreed when tracking stopped: the canary's 4 KiB and the interpreter's memory.
    assert values["leaked_bytes_total"] > 4096 + 10_000
    assert values["leak_sites"] == len([f for f in parsed.findings if f.kind == "leak"])
    assert values["leaked_blocks_total"] >= values["leak_sites"]
    assert values["tracked_duration"] > 0
    # The aggregated format counts one record per site, not per allocation and free.
    assert metrics(parse("leak_aggregated"))["total_allocations"] < values["total_allocations"]


@pytest.fixture
def copy_of(tmp_path: Path) -> Iterator[Path]:
    cell = tmp_path / "cell"
    cell.mkdir()
    shutil.copyfile(MEMRAY / "leak" / memray.CAPTURE_FILE, cell / memray.CAPTURE_FILE)
    yield cell


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99, -1])
def test_truncated_capture_raises(objects: None, copy_of: Path, keep: float) -> None:
    # 0.99 and -1 (the end mark's last byte gone): memray itself read those as a shorter run.
    capture = copy_of / memray.CAPTURE_FILE
    data = capture.read_bytes()
    capture.write_bytes(data[: int(len(data) * keep)] if keep >= 0 else data[:-1])
    with pytest.raises(ParseError, match="not a complete memray capture"):
        memray.make_parser().parse(copy_of)


def test_capture_of_a_killed_subject_raises(objects: None) -> None:
    with pytest.raises(ParseError, match="never finalised"):
        memray.make_parser().parse(MEMRAY / "killed")


def test_missing_capture_raises(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="capture missing"):
        memray.make_parser().parse(tmp_path)


def test_forked_children_are_read_after_the_main_capture(objects: None, copy_of: Path) -> None:
    shutil.copyfile(MEMRAY / "clean" / memray.CAPTURE_FILE, copy_of / f"{memray.CAPTURE_FILE}.4242")
    parsed = memray.make_parser().parse(copy_of)
    values = metrics(parsed)
    assert values["forked_captures"] == 1
    assert values["peak_memory"] == metrics(memray.make_parser().parse(MEMRAY / "leak"))["peak_memory"]
    assert any("in pid" in f.message for f in parsed.findings)


def test_frame_of_unknown_parts() -> None:
    frame = memray.frame_of(("<unknown>", "<unknown>", 0))
    assert (frame.function, frame.file, frame.line, frame.object) == ("<unknown>", None, None, None)
