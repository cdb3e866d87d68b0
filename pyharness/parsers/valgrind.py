"""Parse Valgrind memcheck XML (``--xml=yes``) into findings.

Format: Valgrind's XML output protocol, version 4, documented in
``docs/internals/xml-output-protocol4.txt`` of the Valgrind sources
(https://sourceware.org/git/?p=valgrind.git;a=blob;f=docs/internals/xml-output-protocol4.txt).
Each ``<error>`` becomes one finding; leaks carry ``<xwhat>`` with
``<leakedbytes>`` and ``<leakedblocks>``. Elements matched, e.g.::

    <error><unique>0x26e</unique><tid>1</tid><kind>InvalidRead</kind>
      <what>Invalid read of size 4</what>
      <stack><frame><obj>.../_canaries.cpython-311-x86_64-linux-gnu.so</obj>
        <fn>canaries::heap_overflow_read()</fn><dir>.../csrc/canaries</dir>
        <file>canaries_module.cpp</file><line>55</line></frame>...</stack></error>
    <error>...<kind>Leak_DefinitelyLost</kind><xwhat><text>4,096 bytes in 1 blocks are
      definitely lost in loss record 262 of 262</text><leakedbytes>4096</leakedbytes>
      <leakedblocks>1</leakedblocks></xwhat>...</error>

Possibly-lost and still-reachable leaks (shown only when the runner asks for
them) stay visible but are marked suppressed: they are CPython's GC objects and
globals, not the project's losses. A file that is not well-formed XML, or not
closed by ``</valgrindoutput>`` (a killed run), raises ParseError.

Under pyharness's pytest plugin the XML also holds its markers
(``VALGRIND_PRINTF``), in stream order with the errors::

    <clientmsg><tid>1</tid><text>pyharness-pertest test 4 tests/test_rle.py::test_x
    </text></clientmsg>
    <clientmsg>...<text>pyharness-pertest check 3 4
    </text></clientmsg>
    <error>...<kind>Leak_DefinitelyLost</kind><xwhat><text>96 (+32) bytes in 3 (+1) blocks
      are definitely lost in loss record 12 of 40</text><leakedbytes>96</leakedbytes>...
    <clientmsg>...<text>pyharness-pertest session
    </text></clientmsg>

An error belongs to the marker before it: ``test <i> <id>`` (errors during
that test), ``check <first> <last>`` (a leak search after test ``last``
covering ``first``..``last``: its records are the loss records that grew, by
the ``(+N)`` of their text, ``<leakedbytes>`` being the record's total),
``session`` (the exit-time search, which prints every record again with its
total: only what no earlier search reported is kept, as no test's).
"""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import Finding, Frame, ParsedCell, Trace
from pyharness.parsers import journal as journals
from pyharness.parsers.base import PartialParse, parse_each
from pyharness.pertest import DIR, JOURNAL, MARKER
from pyharness.runners.valgrind import xml_files

TOOL = "valgrind"

# memcheck's <kind> values (Valgrind manual, section 4.2, and the XML protocol's list).
KINDS = {
    "InvalidFree": "invalid-free",
    "MismatchedFree": "mismatched-free",
    "InvalidRead": "invalid-read",
    "InvalidWrite": "invalid-write",
    "InvalidJump": "invalid-jump",
    "Overlap": "overlap",
    "InvalidMemPool": "invalid-mempool",
    "UninitCondition": "uninitialised-condition",
    "UninitValue": "uninitialised-value",
    "SyscallParam": "syscall-param",
    "ClientCheck": "client-check",
    "FishyValue": "fishy-value",
    "ReallocSizeZero": "realloc-size-zero",
    "InvalidAlignment": "invalid-alignment",
    "InvalidSize": "invalid-size",
    "InvalidSizeAndAlignment": "invalid-size-and-alignment",
    "Leak_DefinitelyLost": "leak.definite",
    "Leak_IndirectlyLost": "leak.indirect",
    "Leak_PossiblyLost": "leak.possible",
    "Leak_StillReachable": "leak.reachable",
}
COUNTED_LEAKS = frozenset({"leak.definite", "leak.indirect"})


def _text(elem: ET.Element | None, tag: str) -> str | None:
    if elem is None:
        return None
    child = elem.find(tag)
    return child.text if child is not None and child.text is not None else None


def _frame(elem: ET.Element) -> Frame:
    directory, file = _text(elem, "dir"), _text(elem, "file")
    line = _text(elem, "line")
    path = os.path.join(directory, file) if directory and file else file
    return Frame(
        function=_text(elem, "fn") or _text(elem, "ip") or "??",
        file=path,
        line=int(line) if line and line.isdigit() else None,
        object=_text(elem, "obj"),
    )


def _error(elem: ET.Element) -> Finding:
    raw_kind = _text(elem, "kind") or "unknown"
    kind = KINDS.get(raw_kind, raw_kind)
    xwhat = elem.find("xwhat")
    message = _text(elem, "what") or _text(xwhat, "text") or raw_kind
    aux = _text(elem, "auxwhat")
    if aux:
        message = f"{message}; {aux}"
    leaked_bytes, leaked_blocks = _text(xwhat, "leakedbytes"), _text(xwhat, "leakedblocks")
    stacks = _stacks(elem)
    return Finding(
        TOOL,
        kind,
        message,
        bytes=int(leaked_bytes) if leaked_bytes else None,
        blocks=int(leaked_blocks) if leaked_blocks else None,
        stack=stacks[0][1] if stacks else (),
        related=tuple(Trace(label, stack) for label, stack in stacks[1:]),
        # memcheck reports the leak kinds it was told to show; only these count.
        suppressed=kind.startswith("leak.") and kind not in COUNTED_LEAKS,
    )


def _stacks(elem: ET.Element) -> list[tuple[str, tuple[Frame, ...]]]:
    """Every ``<stack>`` of an error, each labelled by the ``<auxwhat>`` before it.

    The first is where it happened; an ``<auxwhat>`` then introduces each further one::

        <stack>...the invalid read...</stack>
        <auxwhat>Address 0x4a8e068 is 8 bytes inside a block of size 32 free'd</auxwhat>
        <stack>...the free...</stack>
        <auxwhat>Block was alloc'd at</auxwhat>
        <stack>...the allocation...</stack>
    """
    out: list[tuple[str, tuple[Frame, ...]]] = []
    label = ""
    for child in elem:
        if child.tag == "auxwhat":
            label = (child.text or "").strip()
        elif child.tag == "stack":
            out.append((label if out else "", tuple(_frame(f) for f in child.findall("frame"))))
            label = ""
    return out


_GROWTH = re.compile(
    r"^(?P<bytes>[\d,]+) (?:\(\+(?P<more_bytes>[\d,]+)\) )?bytes in (?P<blocks>[\d,]+) "
    r"(?:\(\+(?P<more_blocks>[\d,]+)\) )?blocks?"
)
_TEST = re.compile(rf"^{MARKER} test (?P<index>\d+) (?P<id>.*)$")
_CHECK = re.compile(rf"^{MARKER} check (?P<first>\d+) (?P<last>\d+)$")
_SESSION = f"{MARKER} session"


def _number(text: str | None) -> int | None:
    return int(text.replace(",", "")) if text else None


class _Tests:
    """The plugin's markers, read in stream order: what the current error belongs to."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.test: str | None = None
        self.span: tuple[str, ...] = ()
        self.checking = False  # in a leak search between tests: leak records carry (+N)
        self.at_exit = False
        self.marked = False
        # What the searches between tests reported, per loss record (kind and stack): the
        # exit-time search repeats every record whole.
        self.reported: dict[tuple[object, ...], tuple[int, int]] = {}

    def marker(self, text: str) -> None:
        text = text.strip()
        if (test := _TEST.match(text)) is not None:
            self.marked = True
            index = int(test["index"])
            self.ids[index] = test["id"]
            self.test, self.span, self.checking = test["id"], (), False
        elif (check := _CHECK.match(text)) is not None:
            self.marked = True
            covered = tuple(
                self.ids[i] for i in range(int(check["first"]), int(check["last"]) + 1) if i in self.ids
            )
            one = covered[0] if len(covered) == 1 else None
            self.test, self.span, self.checking = one, covered if one is None else (), True
        elif text == _SESSION:
            self.marked = True
            self.test, self.span, self.checking, self.at_exit = None, (), False, True

    def place(self, finding: Finding, xwhat_text: str | None) -> Finding | None:
        """``finding`` with its test, its size the growth a search reported (None: nothing new)."""
        if not self.marked:
            return finding
        if not finding.kind.startswith("leak."):
            return replace(finding, test=self.test, span=self.span)
        key = (finding.kind, finding.stack)
        growth = _GROWTH.match(xwhat_text or "")
        if self.at_exit or not self.checking:
            # The exit-time search (or one the plugin did not mark): totals. Keep what is new.
            seen_bytes, seen_blocks = self.reported.get(key, (0, 0))
            left = (finding.bytes or 0) - seen_bytes
            if left <= 0:
                return None
            blocks = max((finding.blocks or 0) - seen_blocks, 1)
            return replace(finding, bytes=left, blocks=blocks, test=self.test, span=self.span)
        more_bytes = _number(growth["more_bytes"]) if growth else None
        more_blocks = _number(growth["more_blocks"]) if growth else None
        size = more_bytes if more_bytes is not None else (finding.bytes or 0)
        blocks = more_blocks if more_blocks is not None else (finding.blocks or 0)
        seen_bytes, seen_blocks = self.reported.get(key, (0, 0))
        self.reported[key] = (seen_bytes + size, seen_blocks + blocks)
        return replace(finding, bytes=size, blocks=blocks, test=self.test, span=self.span)


def _findings(elements: Iterable[ET.Element]) -> tuple[Finding, ...]:
    """The ``<error>`` elements as findings, each placed by the plugin's markers before it."""
    tests = _Tests()
    out: list[Finding] = []
    for elem in elements:
        if elem.tag == "clientmsg":
            tests.marker(_text(elem, "text") or "")
        elif elem.tag == "error":
            placed = tests.place(_error(elem), _text(elem.find("xwhat"), "text"))
            if placed is not None:
                out.append(placed)
    return tuple(out)


def _salvage(text: str) -> tuple[Finding, ...]:
    """The complete ``<error>`` elements of a document cut short (a killed or crashed run)."""
    elements: list[ET.Element] = []
    try:
        for _event, elem in ET.iterparse(io.StringIO(text), events=("end",)):
            if elem.tag in ("error", "clientmsg"):
                elements.append(elem)
    except ET.ParseError:
        pass  # the cut: everything complete before it is kept
    return _findings(elements)


def parse_text(text: str, source: str = "<text>") -> ParsedCell:
    """One memcheck XML document (a ``PartialParse`` with its complete errors when cut short)."""
    if "</valgrindoutput>" not in text:
        found = _salvage(text)
        raise PartialParse(
            f"{source}: Valgrind XML is not closed by </valgrindoutput> (run cut short?) after "
            f"{len(found)} complete error(s)",
            ParsedCell(found),
        )
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ParseError(f"{source}: malformed Valgrind XML: {err}") from err
    if root.tag != "valgrindoutput":
        raise ParseError(f"{source}: not Valgrind XML (root element <{root.tag}>)")
    tool = _text(root, "tool")
    if tool is not None and tool != "memcheck":
        raise ParseError(f"{source}: XML from Valgrind tool {tool!r}, expected memcheck")
    findings = _findings(e for e in root if e.tag in ("error", "clientmsg"))
    suppressed: dict[str, int] = {}
    for pair in root.findall("suppcounts/pair"):
        name, count = _text(pair, "name"), _text(pair, "count")
        if name and count and count.isdigit():
            suppressed[name] = suppressed.get(name, 0) + int(count)
    return ParsedCell(findings, suppressions=suppressed)


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """Every per-process XML file merged into one result."""
    return parse_each(paths, parse_text)


def parse_cell(cell_dir: Path) -> ParsedCell:
    """Every per-process XML file; one with no plugin markers, under a suite that has a journal
    (a test's subprocess, traced too), is the test's during which it was written."""
    journal = journals.read(cell_dir / DIR / JOURNAL)
    if journal is None:
        return parse_files(xml_files(cell_dir))

    def placed(path: Path, one: ParsedCell) -> ParsedCell:
        if one.findings and all(f.test is None and not f.span for f in one.findings) and _unmarked(path):
            written = journal.written_during(path)
            return ParsedCell(tuple(journals.tag(one.findings, written)), one.metrics, one.suppressions)
        return one

    return parse_each(xml_files(cell_dir), parse_text, then=placed)


def _unmarked(path: Path) -> bool:
    try:
        return MARKER.encode() not in path.read_bytes()
    except OSError:
        return False


@dataclass(frozen=True)
class ValgrindParser:
    """The valgrind parser: one XML file per traced process (the exit code is not needed)."""

    id: str = TOOL

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return xml_files(cell_dir)

    def parse(self, cell_dir: Path) -> ParsedCell:
        return parse_cell(cell_dir)


def make_parser() -> ValgrindParser:
    """The parser ``pyharness.registry.parser_for("valgrind")`` returns."""
    return ValgrindParser()
