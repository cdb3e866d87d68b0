"""Parse AddressSanitizer, LeakSanitizer and UBSan text reports into findings.

Format: the sanitizer runtimes' report text, documented with each tool at
https://github.com/google/sanitizers/wiki/AddressSanitizer (and the
LeakSanitizer and UndefinedBehaviorSanitizer pages of the clang manual). The
runner sends them to ``asan.<pid>`` files (``log_path``). gcc 12's UBSan
writes its report to stderr and only its SUMMARY line to ``log_path``, so the
subject's stderr is read too and the two halves are joined by location. Every
report ends with a ``SUMMARY:`` line, which is also what classifies it (ASan
and LSan share an exit code). Lines matched, e.g.::

    ==11509==ERROR: AddressSanitizer: heap-use-after-free on address 0x603000051a08 at pc ...
    READ of size 4 at 0x603000051a08 thread T0
        #0 0x7f168e2a3643 in canaries::use_after_free() ../../csrc/canaries/canaries_module.cpp:59
    SUMMARY: AddressSanitizer: heap-use-after-free ../../csrc/canaries/canaries_module.cpp:59 in ...
    ==11484==ERROR: LeakSanitizer: detected memory leaks
    Direct leak of 4096 byte(s) in 1 object(s) allocated from:
    SUMMARY: AddressSanitizer: 4096 byte(s) leaked in 1 allocation(s).
    ../../csrc/canaries/canaries_module.cpp:81:14: runtime error: signed integer overflow: ...
    SUMMARY: UndefinedBehaviorSanitizer: signed-integer-overflow ../../csrc/canaries/...:81:14 in

An ASan or LSan report that starts but has no ``SUMMARY:`` line (a killed
process, a cut file) raises ParseError. A stack that neither reaches a thread's
or the process's entry (``_start``, ``start_thread``, ``clone``...) nor fills
the runtime's ``malloc_context_size`` was cut short by the fast unwinder (an
interpreter built without frame pointers stops it): its finding is marked
``truncated``, so a foreign verdict on it is never taken as proof. UBSan prints its summary only with
``print_summary=1`` (the runner sets it); a UBSan report without one is
accepted when its stack is complete, i.e. followed by another report or the end.

The full-unwinding re-run's allocation shim (``pyharness.runners.asan``) shows
in allocation stacks as a frame of its own, right below the runtime's::

    #0 0x7faab90b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x7faab96bd41b in malloc /.../pyharness/native/asan_shift.c:137

Its frames are taken off every stack (they still count towards the unwinder's
depth), and a leak allocated through it has the shim's padding taken off its
size (``Direct leak of 348 byte(s) in 3 object(s)`` is 300 bytes of the
project's), so a leak reads the same with the shim as without it.
Under pyharness's pytest plugin the reports of each test and of each leak check
between tests are in files of their own (``pertest/asan/``, named in
``pyharness.parsers.journal.report_files``), so each finding names its test. A
leak check then also lists the leaked objects (``report_objects=1``)::

    Objects leaked above:
    0x602000052f70 (64 bytes)

which are not part of any stack and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import Finding, Frame, ParsedCell, Trace
from pyharness.parsers import journal as journals
from pyharness.parsers.base import PartialParse, read_text
from pyharness.pertest import DIR, JOURNAL
from pyharness.runners.asan import MALLOC_CONTEXT_SIZE, SHIFT_BYTES, SHIFT_HELPER, SHIFT_SOURCE, log_files

TOOL = "asan"
# Where every complete stack ends: the process's entry or a thread's (glibc 2.34+ symbolizes
# __libc_start_main as __libc_start_main_impl).
STACK_ROOTS = frozenset(
    {"_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main", "start_thread",
     "clone", "clone3", "main", "Py_BytesMain"}
)  # fmt: skip

UNWIND_SLACK = 2  # frames the slow unwinder drops from a full stack (truncated())

_ASAN_ERROR = re.compile(r"^==(?P<pid>\d+)==ERROR: AddressSanitizer: (?P<what>.*)$")
_LSAN_ERROR = re.compile(r"^==(?P<pid>\d+)==ERROR: LeakSanitizer: (?P<what>.*)$")
_UBSAN_ERROR = re.compile(r"^(?P<where>\S+?:\d+(?::\d+)?): runtime error: (?P<what>.*)$")
_LEAK = re.compile(
    r"^(?P<kind>Direct|Indirect) leak of (?P<bytes>\d+) byte\(s\) "
    r"in (?P<blocks>\d+) object\(s\) allocated from:$"
)
_ACCESS = re.compile(r"^(?:READ|WRITE) of size (?P<size>\d+) at ")
# The runtime failing itself (not a finding): e.g. "AddressSanitizer: CHECK failed:
# asan_interceptors.cpp:320 "((__interception::real___cxa_throw)) != (0)"" when a C++
# exception is thrown and libstdc++ was not loaded when the preloaded runtime started.
_CHECK_FAILED = re.compile(r"^(?:==\d+==)?AddressSanitizer: CHECK failed: (?P<what>.*)$")
_SUMMARY = re.compile(
    r"^SUMMARY: (?P<tool>AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): (?P<rest>.*)$"
)
_FRAME = re.compile(r"^\s*#(?P<n>\d+) (?P<pc>0x[0-9a-fA-F]+)(?: in)?\s*(?P<rest>.*)$")
_FRAME_OBJ = re.compile(r"\s*\((?P<obj>[^()\s]+?)\+0x(?P<off>[0-9a-fA-F]+)\)$")
_FRAME_FILE = re.compile(r"\s(?P<file>\S+?):(?P<line>\d+)(?::\d+)?$")
_BUILD_ID = re.compile(r"\s*\(BuildId: [0-9a-fA-F]+\)$")
# LSan's table of matched suppressions (print_suppressions=1), printed before the SUMMARY line:
#     Suppressions used:
#       count      bytes template
#           2         96 suppressed_leak
_SUPPRESSIONS_USED = "Suppressions used:"
_SUPPRESSION_ROW = re.compile(r"^\s+(?P<count>\d+)\s+(?P<bytes>\d+)\s+(?P<template>\S.*)$")


def parse_frame(line: str) -> Frame | None:
    """One ``#N 0xADDR in function file:line`` (or ``(object+0xOFF)``) line, else None."""
    m = _FRAME.match(line)
    return None if m is None else _frame(m)


def _frame(m: re.Match[str]) -> Frame:
    rest = _BUILD_ID.sub("", m["rest"].rstrip())
    if (obj := _FRAME_OBJ.search(rest)) is not None:
        return Frame(rest[: obj.start()].strip() or "??", object=obj["obj"], offset=int(obj["off"], 16))
    if (loc := _FRAME_FILE.search(" " + rest)) is not None:
        fn = (" " + rest)[: loc.start()].strip()
        return Frame(fn or "??", loc["file"], int(loc["line"]))
    return Frame(rest or "??")


@dataclass
class _Open:
    """A report being read: its header, the lines after it, and where it started."""

    tool: str  # "asan", "lsan" or "ubsan"
    header: str
    lineno: int
    lines: list[str] = field(default_factory=list)


def truncated(stack: Sequence[Frame], depth: int = MALLOC_CONTEXT_SIZE, *, pcs: int | None = None) -> bool:
    """True when the unwinder stopped before the stack's root and before ``depth`` frames.

    ``depth`` counts return addresses (``pcs``, default one per frame): the frames of
    functions inlined into one caller are printed on lines of their own, one address.
    Any root frame makes the stack complete: below it may come an unsymbolized ``_start``
    (``#9 0x55d0 (/usr/bin/python3.11+0x1080)``, a stripped interpreter). The slow
    (full) unwinder collects ``depth`` frames and then drops the runtime's own from the
    top, so a stack it cut at the context size shows ``UNWIND_SLACK`` fewer (measured:
    28 return addresses of 30, free and allocation stacks alike).
    """
    if not stack or (len(stack) if pcs is None else pcs) >= depth - UNWIND_SLACK:
        return False
    return not any(_bare_name(f.function) in STACK_ROOTS for f in stack)


def is_shim_frame(frame: Frame) -> bool:
    """A frame of the re-run's allocation shim (its source, or its object ``asan_shift-<digest>.so``)."""
    if frame.file is not None:
        return frame.file.rsplit("/", 1)[-1] == SHIFT_SOURCE
    return frame.object is not None and frame.object.rsplit("/", 1)[-1].startswith(f"{SHIFT_HELPER}-")


def _bare_name(function: str) -> str:
    return function.split("(", 1)[0].strip().rsplit(" ", 1)[-1]


@dataclass
class _Stack:
    intro: str  # the line before the frames ("Direct leak of ... allocated from:")
    frames: list[Frame] = field(default_factory=list)
    pcs: int = 0  # distinct return addresses (inlined frames share their caller's)
    shifted: bool = False  # it went through the allocation shim (its frames are not kept)


def _stacks(lines: list[str]) -> list[_Stack]:
    """Consecutive frame lines grouped into stacks, each with the line that introduced it."""
    out: list[_Stack] = []
    intro = ""
    current: _Stack | None = None
    last_pc = ""
    for line in lines:
        m = _FRAME.match(line)
        if m is not None:
            if current is None:
                current = _Stack(intro)
                out.append(current)
                last_pc = ""
            frame = _frame(m)
            if is_shim_frame(frame):
                current.shifted = True
            else:
                current.frames.append(frame)
            current.pcs += m["pc"] != last_pc
            last_pc = m["pc"]
        else:
            current = None
            if line.strip():
                intro = line.strip()
    return out


def _close(report: _Open, summary: str) -> list[Finding]:
    if report.tool == "lsan":
        return _leaks(report)
    words = summary.split(maxsplit=1)
    kind = words[0] if words else "undefined-behavior"
    stacks = _stacks(report.lines)
    stack = tuple(stacks[0].frames) if stacks else ()
    # The report's further stacks: where the block was freed, where it was allocated,
    # the frame of a stack object. Allocation and free stacks are unwound like a
    # malloc's (fast, frame pointers); the access itself, a fatal stack, fully.
    related = tuple(
        Trace(s.intro.removesuffix(":"), tuple(s.frames), truncated=truncated(s.frames, pcs=s.pcs))
        for s in stacks[1:]
    )
    size: int | None = None
    message = report.header
    for line in report.lines:
        if (access := _ACCESS.match(line.strip())) is not None:
            size = int(access["size"])
            message = f"{report.header}; {line.strip()}"
            break
    return [Finding(TOOL, kind, message, bytes=size, blocks=None, stack=stack, related=related)]


def _leaks(report: _Open) -> list[Finding]:
    findings = []
    for stack in _stacks(report.lines):
        m = _LEAK.match(stack.intro)
        if m is None:
            continue
        size, blocks = int(m["bytes"]), int(m["blocks"])
        message = stack.intro.removesuffix(" allocated from:")
        if stack.shifted:  # each block carried the shim's padding
            size -= SHIFT_BYTES * blocks
            message = f"{m['kind']} leak of {size} byte(s) in {blocks} object(s)"
        findings.append(
            Finding(
                TOOL,
                f"leak.{m['kind'].lower()}",
                message,
                bytes=size,
                blocks=blocks,
                stack=tuple(stack.frames),
                truncated=truncated(stack.frames, pcs=stack.pcs),
            )
        )
    return findings


def _lost_stack(report: _Open, check: str) -> list[Finding]:
    """An ASan report whose printing the runtime's own CHECK cut short, at the stack it could not print."""
    kind = report.header.removeprefix("AddressSanitizer: ").split(" ", 1)[0] or "unknown"
    (finding,) = _close(report, kind)
    lost = next((line.strip() for line in reversed(report.lines) if line.strip().endswith(":")), "a stack")
    missing = Trace(f"{lost.removesuffix(':')} (not printed: CHECK failed: {check})", (), truncated=True)
    return [replace(finding, related=(*finding.related, missing), truncated=True)]


@dataclass
class _Parsed:
    findings: list[Finding]
    # UBSan reports that had no SUMMARY in their own file, by "file:line:col" location, in order.
    open_ubsan: dict[str, list[int]]
    # UBSan SUMMARY lines with no report before them: (kind, location).
    orphan_summaries: list[tuple[str, str]]
    suppressions: dict[str, int] = field(default_factory=dict)  # LSan's "Suppressions used" table
    cut: str | None = None  # why the file's last report is incomplete


def _suppression_row(line: str, counts: dict[str, int]) -> bool:
    """Count one row of LSan's "Suppressions used" table; False once the table has ended."""
    if (used := _SUPPRESSION_ROW.match(line)) is not None:
        counts[used["template"]] = counts.get(used["template"], 0) + int(used["count"])
        return True
    return line.strip().startswith("count")  # the table's own header row


def _header(line: str, lineno: int) -> _Open | None:
    """The report a line opens, if it opens one."""
    if (m := _ASAN_ERROR.match(line)) is not None:
        return _Open("asan", f"AddressSanitizer: {m['what']}", lineno)
    if (m := _LSAN_ERROR.match(line)) is not None:
        return _Open("lsan", f"LeakSanitizer: {m['what']}", lineno)
    if (m := _UBSAN_ERROR.match(line.strip())) is not None:
        return _Open("ubsan", f"{m['where']}: runtime error: {m['what']}", lineno)
    return None


def _parse(text: str, source: str) -> _Parsed:
    out = _Parsed([], {}, [])
    report: _Open | None = None
    in_suppressions = False

    def unsummarised(r: _Open) -> None:
        if r.tool == "ubsan" and _stacks(r.lines):  # UBSan without its summary: a whole stack will do
            out.open_ubsan.setdefault(r.header.split(": runtime error:", 1)[0], []).append(len(out.findings))
            out.findings.extend(_close(r, "undefined-behavior"))
        else:
            out.cut = f"{source}:{r.lineno}: report {r.header!r} has no SUMMARY line (truncated?)"

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if line.strip() == _SUPPRESSIONS_USED:
            in_suppressions = True
            continue
        if in_suppressions:
            in_suppressions = _suppression_row(line, out.suppressions)
            if in_suppressions:
                continue
        if (check := _CHECK_FAILED.match(line)) is not None:
            if report is not None and report.tool == "asan":
                # The runtime died printing a report, e.g. "asan_descriptions.cpp:176 ((res.trace)) != (0)":
                # the fast unwinder recorded no free stack through the interpreter's frames. The
                # report is as whole as it will get; its missing stack is marked cut short.
                out.findings.extend(_lost_stack(report, check["what"]))
                return out
            hint = " (preload libstdc++ after the ASan runtime)" if "cxa_throw" in check["what"] else ""
            raise ParseError(
                f"{source}:{lineno}: the sanitizer runtime itself failed: CHECK failed: {check['what']}{hint}"
            )
        if (summary := _SUMMARY.match(line)) is not None:
            if report is not None:
                out.findings.extend(_close(report, summary["rest"]))
                report = None
            elif summary["tool"] == "UndefinedBehaviorSanitizer":
                # gcc 12's UBSan prints its report on stderr but this line to log_path.
                words = summary["rest"].split()
                out.orphan_summaries.append(
                    (words[0] if words else "undefined-behavior", words[1] if len(words) > 1 else "")
                )
            else:
                raise ParseError(f"{source}:{lineno}: SUMMARY line with no report before it: {line!r}")
            continue
        header = _header(line, lineno)
        if header is not None:
            if report is not None:
                unsummarised(report)
                if out.cut:
                    return out  # a report that never ended: nothing after it can be trusted
            report = header
        elif report is not None:
            report.lines.append(line)
    if report is not None:
        unsummarised(report)
    return out


def _merge(parsed: list[_Parsed]) -> tuple[Finding, ...]:
    """Join UBSan reports with summaries found in other files (matched by location)."""
    findings: list[Finding] = []
    # One site can report more than once (per-test logs: once in each test's file), so the
    # reports of a location wait in order, and each summary takes the first still waiting.
    open_reports: dict[str, list[tuple[int, int]]] = {}
    for i, p in enumerate(parsed):
        for where, indices in p.open_ubsan.items():
            open_reports.setdefault(where, []).extend((i, index) for index in indices)
    for p in parsed:
        for kind, where in p.orphan_summaries:
            if open_reports.get(where):
                i, index = open_reports[where].pop(0)
                parsed[i].findings[index] = replace(parsed[i].findings[index], kind=kind)
            else:  # the report body is lost (stderr not kept): the summary alone still names the site
                file, _, rest = where.partition(":")
                line = rest.split(":", 1)[0]
                frame = Frame("??", file or None, int(line) if line.isdigit() else None)
                findings.append(
                    Finding(TOOL, kind, f"UndefinedBehaviorSanitizer: {kind} {where}", stack=(frame,))
                )
    for p in parsed:
        findings.extend(p.findings)
    return tuple(findings)


def _result(parsed: Sequence[tuple[str, _Parsed]]) -> ParsedCell:
    """Every file's findings, UBSan halves joined. Each process's "Suppressions used" table is
    cumulative (a leak check per test prints it again with every check): the largest count
    a process printed per entry, summed over processes."""
    by_process: dict[str, dict[str, int]] = {}
    for process, p in parsed:
        table = by_process.setdefault(process, {})
        for name, count in p.suppressions.items():
            table[name] = max(table.get(name, 0), count)
    suppressions: dict[str, int] = {}
    for table in by_process.values():
        for name, count in table.items():
            suppressions[name] = suppressions.get(name, 0) + count
    files = [p for _, p in parsed]
    result = ParsedCell(_merge(files), suppressions=suppressions)
    cut = [p.cut for p in files if p.cut]
    if cut:
        raise PartialParse("; ".join(cut), result)
    return result


def _process(path: Path) -> str:
    """The pid a per-process file is named by (``asan.4242``, ``t00003.4242``), else its name."""
    suffix = path.name.rsplit(".", 1)[-1]
    return suffix if suffix.isdigit() else path.name


def parse_text(text: str, source: str = "<text>") -> ParsedCell:
    """Every report in ``text`` as (unattributed) findings; lines outside reports are ignored."""
    return _result([(source, _parse(text, source))])


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """Findings from every file (per-pid logs, then the subject's stderr), UBSan halves joined."""
    return _result([(_process(path), _parse(read_text(path), str(path))) for path in paths])


def parse_cell(cell_dir: Path) -> ParsedCell:
    """The runner's logs and, under pyharness's pytest plugin, the per-test report files, each
    finding marked with the test it was reported during (``pyharness.parsers.journal``). A
    memory error in a process log, in a process that died during a test, is that test's: a
    deadly signal's report goes to the process log whatever the per-test path (measured).
    Another process's log (a test's subprocess: a C++ test binary the suite runs) is the
    test's during which it was written."""
    journal = journals.read(cell_dir / DIR / JOURNAL)
    parsed: list[tuple[str, _Parsed]] = []
    for path in log_files(cell_dir):
        p = _parse(read_text(path), str(path))
        process = _process(path)
        if journal is not None and process.isdigit() and int(process) not in journal.pids:
            p.findings = journals.tag(p.findings, journal.written_during(path))
            parsed.append((process, p))
            continue
        running = journal.running_in(int(process)) if journal is not None and process.isdigit() else None
        if running is not None:
            p.findings = [
                replace(f, test=running.id) if f.message.startswith("AddressSanitizer: ") else f
                for f in p.findings
            ]
        parsed.append((process, p))
    for report in journals.report_files(cell_dir, TOOL):
        p = _parse(read_text(report.path), str(report.path))
        p.findings = journals.tag(p.findings, report.test, report.span)
        parsed.append((str(report.pid), p))
    return _result(parsed)


@dataclass(frozen=True)
class AsanParser:
    """The asan parser: the runner's per-pid logs, the subject's stderr and the per-test files."""

    id: str = TOOL

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return [*log_files(cell_dir), *(r.path for r in journals.report_files(cell_dir, TOOL))]

    def parse(self, cell_dir: Path) -> ParsedCell:
        return parse_cell(cell_dir)


def make_parser() -> AsanParser:
    """The asan parser. The subject's exit code is not needed: the reports, not the exit code,
    classify."""
    return AsanParser()
