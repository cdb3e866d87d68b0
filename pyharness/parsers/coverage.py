"""Parse gcovr's JSON report into a ``Coverage``: per file, what never ran.

Format: gcovr's JSON output, "JSON Format Reference" in gcovr's documentation
(https://gcovr.com/en/stable/output/json.html), itself based on gcc's gcov JSON
intermediate format ("Invoking gcov" in the gcc manual). gcovr 8 with gcc 12
writes (``gcovr/format_version`` 0.15; fields this parser does not read are
left out)::

    {"gcovr/format_version": "0.15",
     "files": [{"file": "csrc/core/socket_util.cpp",
                "lines": [{"line_number": 32, "function_name": "netcore::(anonymous namespace)::resolve(...)",
                           "count": 1,
                           "branches": [{"branchno": 0, "count": 1, "fallthrough": true, "throw": false},
                                        {"branchno": 1, "count": 0, "fallthrough": false, "throw": false}]},
                          ...],
                "functions": [{"demangled_name": "netcore::os_error::os_error(int, ...)", "lineno": 19,
                               "execution_count": 0}, ...]}]}

Read: per file its path (relative to gcovr's ``--root`` when inside it, else
absolute), each line entry's ``line_number``, ``count`` and ``branches`` (each
branch's ``count``; ``throw`` ones are dropped, as the runner already asks), and
each function's ``demangled_name`` (or ``name``), ``lineno`` and
``execution_count``. An entry with ``"gcovr/excluded": true`` does not count.
A line may have several entries (an inline function's line in each function it
was inlined into, a template's in each instance): the line ran when any did,
and its branches are those of all its entries, numbered in order. A function
listed twice (a constructor's complete and base objects) was entered when
either was.

The paths are the tool's: attribution (``Policy.attribute_coverage``) keeps the
project's files. A report that is not JSON, has no ``files`` list or another
major format version raises ParseError; so does a missing report, which gcovr
always writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyharness.errors import ParseError
from pyharness.model import Coverage, FileCoverage, FunctionRef, LineBranches, ParsedCell
from pyharness.model.coverage import of_files
from pyharness.parsers.base import FileParser, read_text
from pyharness.runners.coverage import report_path

TOOL = "coverage"
FORMAT_MAJOR = "0"  # gcovr's JSON format 0.x (0.15 from gcovr 8.8)
VERSION_KEY = "gcovr/format_version"


def _file(entry: Mapping[str, Any], source: str) -> FileCoverage:
    name = entry.get("file")
    lines = entry.get("lines", [])
    functions = entry.get("functions", [])
    if not isinstance(name, str) or not isinstance(lines, list) or not isinstance(functions, list):
        raise ParseError(f"{source}: a file entry without 'file', 'lines' or 'functions': {str(entry)[:120]}")
    counts: dict[int, int] = {}
    branches: dict[int, list[int]] = {}
    function_of: dict[int, str] = {}
    for line in lines:
        if line.get("gcovr/excluded"):
            continue
        try:
            number = int(line["line_number"])
            count = int(line["count"])
        except (KeyError, TypeError, ValueError) as err:
            raise ParseError(f"{source}: {name}: a line entry without a number or count: {line!r}") from err
        counts[number] = counts.get(number, 0) + count
        function_of.setdefault(number, str(line.get("function_name") or ""))
        taken = [int(b.get("count", 0)) for b in line.get("branches", ()) if not b.get("throw")]
        if taken:
            branches.setdefault(number, []).extend(taken)
    entered: dict[tuple[int, str], int] = {}
    for fn in functions:
        if fn.get("gcovr/excluded"):
            continue
        key = (int(fn.get("lineno", 0)), str(fn.get("demangled_name") or fn.get("name") or "?"))
        entered[key] = entered.get(key, 0) + int(fn.get("execution_count", 0))
    branch_lines = tuple(
        LineBranches(number, len(taken), tuple(i for i, c in enumerate(taken) if c == 0), function_of[number])
        for number, taken in sorted(branches.items())
        if 0 in taken
    )
    return FileCoverage(
        file=name,
        lines_total=len(counts),
        lines_missed=tuple(sorted(n for n, c in counts.items() if c == 0)),
        branches_total=sum(len(t) for t in branches.values()),
        branch_lines=branch_lines,
        functions_total=len(entered),
        functions_missed=tuple(FunctionRef(line, fn) for (line, fn), c in sorted(entered.items()) if c == 0),
    )


def parse_text(text: str, source: str = "<gcovr json>") -> ParsedCell:
    """The coverage gcovr's JSON ``text`` reports (every file in it, unattributed)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"{source}: not JSON (cut short?): {err}") from err
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ParseError(f"{source}: not a gcovr JSON report (no 'files' list)")
    version = str(doc.get(VERSION_KEY, ""))
    if version.split(".", 1)[0] != FORMAT_MAJOR:
        raise ParseError(f"{source}: gcovr JSON format {version or '(none)'}; this parser reads 0.x")
    files = [_file(entry, source) for entry in doc["files"] if isinstance(entry, dict)]
    return ParsedCell((), coverage=of_files(files))


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """The coverage of gcovr's report (the first path; the parser reads one report)."""
    for path in paths:
        if not path.is_file():
            raise ParseError(f"no gcovr report {path}: gcovr always writes one")
        return parse_text(read_text(path), str(path))
    raise ParseError("no gcovr report to read")


def report_files(cell_dir: Path) -> Sequence[Path]:
    """The one artifact the parser reads: the runner's ``coverage.json``."""
    return (report_path(cell_dir),)


def make_parser() -> FileParser:
    """The coverage parser: gcovr's one JSON report of the cell."""
    return FileParser(TOOL, report_files, parse_files)


__all__ = ["Coverage", "make_parser", "parse_files", "parse_text", "report_files"]
