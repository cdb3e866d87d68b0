"""Parse ``heaptrack_print`` text into leak findings and heap metrics.

Format: the text report of heaptrack_print (heaptrack 1.4,
https://github.com/KDE/heaptrack, ``src/analyze/print/heaptrack_print.cpp``),
run with ``LC_ALL=C``. Sizes are printed with decimal prefixes and three
significant digits ("4.10K" for 4,096 bytes), so byte counts are approximate.
Leak sites come from the ``MEMORY LEAKS`` section, either unmerged
(``--merge-backtraces 0``, what the runner asks for) or merged (the default,
where a location is followed by indented backtraces). The totals come from the
closing lines. Lines matched, e.g.::

    MEMORY LEAKS
    4.10K leaked over 1 calls from
      canaries::leak(unsigned long)
        at ../../csrc/canaries/canaries_module.cpp:39
        in /work/.../site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so
    calls to allocation functions: 87723 (97253/s)
    temporary memory allocations: 15504 (17188/s)
    peak heap memory consumption: 5.01M
    total memory leaked: 75.36K

An ``in <object>`` line is printed only when the object changes, so a frame
without one inherits its predecessor's. A report without its closing totals
(heaptrack_print died, the recording was cut) raises ParseError. "Total memory
leaked" includes every block the interpreter still held at exit; only leak
sites with a project frame count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import Finding, Frame, Metric, ParsedCell
from pyharness.parsers.base import FileParser, read_text
from pyharness.runners.heaptrack import LEAKS_FILE, SUMMARY_FILE

TOOL = "heaptrack"

_SIZE = r"(?P<amount>[0-9.]+)(?P<unit>[KMGTP]?)B?"
# A trailing colon marks a backtrace under a merged location; without it, a location (merged)
# or a whole backtrace (unmerged).
_LEAK_HEADER = re.compile(rf"^ *{_SIZE} leaked over (?P<calls>\d+) calls from(?P<sub>:?)$")
_SECTION = re.compile(
    r"^(MEMORY LEAKS|MOST CALLS TO ALLOCATION FUNCTIONS|PEAK MEMORY CONSUMERS|"
    r"MOST TEMPORARY ALLOCATIONS|MOST BYTES ALLOCATED)$"
)
_AT = re.compile(r"^at (?P<file>.+?):(?P<line>\d+)$")
_OTHER_PLACES = re.compile(r"^\s*and .* from \d+ other places$")
_TOTALS = {
    "calls to allocation functions": "allocation_calls",
    "temporary memory allocations": "temporary_allocations",
    "peak heap memory consumption": "peak_heap",
    "peak RSS (including heaptrack overhead)": "peak_rss",
    "total memory leaked": "leaked_total",
    "suppressed leaks": "leaked_suppressed",
    "bytes allocated in total (ignoring deallocations)": "allocated_total",
}
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}


def parse_size(text: str) -> int:
    """``4.10K`` -> 4100, ``5.01M`` -> 5010000, ``0B`` -> 0 (decimal prefixes, as heaptrack prints)."""
    m = re.fullmatch(_SIZE, text.strip())
    if m is None:
        raise ParseError(f"not a heaptrack size: {text!r}")
    return round(float(m["amount"]) * _UNITS[m["unit"]])


@dataclass
class _Site:
    bytes: int
    calls: int
    frames: list[Frame]


def _add_detail(frames: list[Frame], detail: str) -> None:
    """Attach an ``at file:line`` or ``in object`` line to the frame above it."""
    if not frames:
        return
    last = frames[-1]
    if detail.startswith("in "):
        frames[-1] = Frame(last.function, last.file, last.line, detail[3:].strip())
    elif (at := _AT.match(detail)) is not None:
        frames[-1] = Frame(last.function, at["file"], int(at["line"]), last.object)


def _inherit_objects(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    obj: str | None = None
    for f in frames:
        obj = f.object or obj
        out.append(Frame(f.function, f.file, f.line, obj))
    return out


def _leak_sites(lines: list[str]) -> list[_Site]:
    """Leak sites of the MEMORY LEAKS section, in both the merged and unmerged layouts."""
    sites: list[_Site] = []
    location: list[Frame] = []  # merged layout: the frames shared by the indented backtraces below
    current: _Site | None = None
    merged_top: _Site | None = None
    for line in lines:
        if not line.strip() or _OTHER_PLACES.match(line):
            continue
        if (header := _LEAK_HEADER.match(line)) is not None:
            site = _Site(parse_size(f"{header['amount']}{header['unit']}"), int(header["calls"]), [])
            if header["sub"]:  # a backtrace under a merged location
                current = _Site(site.bytes, site.calls, list(location))
                sites.append(current)
                merged_top = None
            else:
                current = site
                merged_top = site
                location = site.frames
                sites.append(site)
            continue
        if current is None:
            continue
        text = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if text.startswith(("at ", "in ")):
            _add_detail(current.frames, text)
            if merged_top is not None and current is merged_top:
                location = current.frames
            continue
        current.frames.append(Frame(text))
        if indent == 0 and merged_top is not None and current is merged_top:
            location = current.frames
    # In the merged layout the location's own block duplicates its backtraces: keep a
    # top-level block only when no indented backtrace followed it.
    result: list[_Site] = []
    for i, site in enumerate(sites):
        followed = (
            i + 1 < len(sites)
            and sites[i + 1].frames[: len(site.frames)] == site.frames
            and len(sites[i + 1].frames) > len(site.frames)
        )
        if not followed:
            result.append(site)
    return result


def parse_text(text: str, source: str = "<text>") -> ParsedCell:
    """Leak sites as findings, and the run's heap totals as metrics."""
    """One heaptrack_print report."""
    lines = text.splitlines()
    totals: dict[str, float] = {}
    runtime: float | None = None
    section: str | None = None
    leak_lines: list[str] = []
    for line in lines:
        if _SECTION.match(line):
            section = line
            continue
        if line.startswith("total runtime:"):
            section = None
            try:
                runtime = float(line.split(":", 1)[1].strip().rstrip(".").rstrip("s"))
            except ValueError as err:
                raise ParseError(f"{source}: bad runtime line {line!r}") from err
            continue
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            if key in _TOTALS:
                number = value.strip().split(" ", 1)[0]
                totals[_TOTALS[key]] = float(number) if number.isdigit() else parse_size(number)
                continue
        if section == "MEMORY LEAKS":
            leak_lines.append(line)
    if runtime is None or "peak_heap" not in totals:
        raise ParseError(f"{source}: heaptrack_print output has no closing totals (truncated or failed run?)")
    findings = []
    for site in _leak_sites(leak_lines):
        frames = tuple(_inherit_objects(site.frames))
        message = f"{site.bytes} bytes leaked over {site.calls} calls"
        findings.append(Finding(TOOL, "leak", message, bytes=site.bytes, blocks=site.calls, stack=frames))
    units = {"allocation_calls": "calls", "temporary_allocations": "calls"}
    metrics = [Metric(name, value, units.get(name, "bytes")) for name, value in totals.items()]
    metrics.append(Metric("runtime", runtime, "s"))
    return ParsedCell(tuple(findings), tuple(metrics))


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """Findings from every file, de-duplicated; metrics from the first (all carry the same totals)."""
    findings: list[Finding] = []
    metrics: tuple[Metric, ...] | None = None
    seen: set[tuple[object, ...]] = set()
    for path in paths:
        result = parse_text(read_text(path), str(path))
        metrics = metrics or result.metrics
        for f in result.findings:
            key = (f.bytes, f.blocks, f.stack)
            if key not in seen:
                seen.add(key)
                findings.append(f)
    return ParsedCell(tuple(findings), metrics or ())


def artifacts(cell_dir: Path) -> list[Path]:
    """The heaptrack_print texts the heaptrack runner's follow-ups leave in ``cell_dir`` (both
    are always written: a missing one is a ParseError)."""
    paths = [cell_dir / LEAKS_FILE, cell_dir / SUMMARY_FILE]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ParseError(f"{cell_dir}: heaptrack_print output missing: {', '.join(missing)}")
    return paths


def make_parser() -> FileParser:
    """The heaptrack parser: leak findings and heap metrics."""
    return FileParser(TOOL, artifacts, parse_files)
