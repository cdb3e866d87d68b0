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
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import Finding, Frame, ParsedCell, Trace
from pyharness.parsers.base import FileParser, PartialParse, parse_each
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


def _salvage(text: str) -> tuple[Finding, ...]:
    """The complete ``<error>`` elements of a document cut short (a killed or crashed run)."""
    errors: list[Finding] = []
    try:
        for _event, elem in ET.iterparse(io.StringIO(text), events=("end",)):
            if elem.tag == "error":
                errors.append(_error(elem))
    except ET.ParseError:
        pass  # the cut: everything complete before it is kept
    return tuple(errors)


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
    findings = tuple(_error(e) for e in root.findall("error"))
    suppressed: dict[str, int] = {}
    for pair in root.findall("suppcounts/pair"):
        name, count = _text(pair, "name"), _text(pair, "count")
        if name and count and count.isdigit():
            suppressed[name] = suppressed.get(name, 0) + int(count)
    return ParsedCell(findings, suppressions=suppressed)


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """Every per-process XML file merged into one result."""
    return parse_each(paths, parse_text)


def make_parser() -> FileParser:
    """The valgrind parser: one XML file per traced process (the exit code is not needed)."""
    return FileParser(TOOL, xml_files, parse_files)
