"""Parse ThreadSanitizer's text reports into (unattributed) findings.

Format: the TSan runtime's report text, described with the tool at
https://github.com/google/sanitizers/wiki/ThreadSanitizerReportFormat (and the
ThreadSanitizerCppManual / ThreadSanitizerFlags pages of the same wiki; gcc's
manual documents ``-fsanitize=thread``). The runner sends them to
``tsan.<pid>`` files (``log_path``); the subject's stderr is read too, for a
report written before the log could be opened and for the runtime's own
failures. Every report is fenced by a delimiter line, opened by a ``WARNING:``
line and closed by its ``SUMMARY:`` line and a second delimiter. Inside,
each stack is introduced by a line ending in ``:`` (its label). Lines
matched, e.g.::

    ==================
    WARNING: ThreadSanitizer: data race (pid=19947)
      Read of size 8 at 0x7febbd1667e0 by thread T1:
        #0 canaries::race_worker(long) ../../csrc/canaries/canaries_module.cpp:99 (_canaries....so+0x797a)
        #6 <null> <null> (libstdc++.so.6+0xd44a2)
      Previous write of size 8 at 0x7febbd1667e0 by thread T2:
      Location is global 'canaries::race_counter' of size 8 at 0x7febbd1667e0 (_canaries...so+0x3c7e0)
      Thread T1 (tid=19949, running) created by main thread at:
    SUMMARY: ThreadSanitizer: data race ../../csrc/canaries/canaries_module.cpp:99 in canaries::...
    ==================
    WARNING: ThreadSanitizer: lock-order-inversion (potential deadlock) (pid=24007)
      Cycle in lock order graph: M9 (0x562eb5b02180) => M10 (0x562eb5b02140) => M9
      Mutex M10 acquired here while holding mutex M9 in thread T1:
      Mutex M9 previously acquired by the same thread here:
    WARNING: ThreadSanitizer: thread leak (pid=24013)
      Thread T1 (tid=24015, finished) created by main thread at:
      And 3 more similar thread leaks.
    WARNING: ThreadSanitizer: signal-unsafe call inside of a signal (pid=24018)
        #0 malloc ../../../../src/libsanitizer/tsan/tsan_interceptors_posix.cpp:647 (libtsan.so.2+0x3ebb8)

A finding's ``stack`` is the report's first stack (a race's current access, the
first acquisition of a cycle, the leaked thread's creation, the unsafe call);
every later labelled stack becomes a ``Trace`` in ``related``, the tool's label
kept (a race's "Previous write ... by thread T2", "Thread T1 ... created by main
thread at"). ``[failed to restore the stack]`` (the access fell out of TSan's
history) leaves that trace empty and marks the finding ``truncated``.

A report whose ``SUMMARY`` line or closing delimiter is missing (a killed
process, a cut file) raises ParseError, and so do the runtime's own failures
(an unsupported memory layout, threads started after a multi-threaded fork, a
CHECK failure, the runtime not preloaded): a run TSan could not watch is no
evidence of a clean one. Findings are returned unattributed; attribution
(``parsers.attribution.attribute``) sets their project frames later.

Under pyharness's pytest plugin the reports of each test are in a file of
their own (``pertest/tsan/t<i>.<pid>``, ``pyharness.parsers.journal.report_files``):
a finding names the test during which it *fired*. TSan reports a race when its
second access happens, and each pair of stacks once per process: a thread an
earlier test left running can race during a later test, and a race two tests
share is reported in the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyharness.errors import ParseError
from pyharness.model import Finding, Frame, ParsedCell, Trace
from pyharness.parsers import journal as journals
from pyharness.parsers.base import parse_each
from pyharness.pertest import DIR, JOURNAL
from pyharness.runners.tsan import log_files

TOOL = "tsan"

_DELIMITER = "=================="
_WARNING = re.compile(r"^WARNING: ThreadSanitizer: (?P<what>.*?)(?: \(pid=(?P<pid>\d+)\))?$")
_SUMMARY = re.compile(r"^SUMMARY: ThreadSanitizer: (?P<rest>.*)$")
# "    #3 fn(args) ../../x.cpp:12 (obj.so+0x1f)", "#6 <null> <null> (libstdc++.so.6+0xd44a2)"
_FRAME = re.compile(r"^\s*#(?P<n>\d+) (?P<rest>.*)$")
_MODULE = re.compile(r"\s+\((?P<module>[^()\s]+?)\+0x[0-9a-fA-F]+\)$")
_BUILD_ID = re.compile(r"\s*\(BuildId: [0-9a-fA-F]+\)$")
_LOCATION = re.compile(r"^(?P<file>\S+?):(?P<line>\d+)(?::\d+)?$")
_ACCESS_SIZE = re.compile(r"\bof size (?P<size>\d+)\b")
_MORE_LEAKS = re.compile(r"^And (?P<n>\d+) more similar thread leaks\.$")
_NO_STACK = "[failed to restore the stack]"

# The WARNING line's words -> finding kind. Any other report gets its words slugged
# ("destroy of a locked mutex" -> "destroy-of-a-locked-mutex").
KINDS = {
    "data race": "data-race",
    "lock-order-inversion (potential deadlock)": "lock-order-inversion",
    "thread leak": "thread-leak",
    # gcc 12's runtime says "of a signal"; newer ones "of a signal handler".
    "signal-unsafe call inside of a signal": "signal-unsafe-call",
    "signal-unsafe call inside of a signal handler": "signal-unsafe-call",
}

# The runtime failing (not a finding): the run was not watched, so it cannot pass.
_RUNTIME_FAILURES = (
    (
        re.compile(r"FATAL: ThreadSanitizer: unexpected memory mapping"),
        "the kernel randomises more address bits than gcc's TSan can map "
        "(vm.mmap_rnd_bits > 28): run under `setarch $(uname -m) -R`",
    ),
    (
        re.compile(r"ThreadSanitizer: starting new threads after multi-threaded fork is not supported"),
        "a process forked while it had threads and the child started one "
        "(multiprocessing's fork start method?): use the spawn start method under TSan",
    ),
    (re.compile(r"ThreadSanitizer: CHECK failed"), "the runtime's own consistency check failed"),
    (re.compile(r"ThreadSanitizer: failed to"), "the runtime could not start"),
    (
        re.compile(r"libtsan\.so[.\d]*: cannot allocate memory in static TLS block"),
        "the TSan runtime was not preloaded (LD_PRELOAD) into the interpreter's own binary",
    ),
)


def _kind(what: str) -> str:
    if what in KINDS:
        return KINDS[what]
    bare = re.sub(r"\([^)]*\)", "", what).strip().lower()
    return re.sub(r"[^a-z0-9]+", "-", bare).strip("-") or "tsan-report"


def parse_frame(line: str) -> Frame | None:
    """One ``#N function file:line (module+0xOFF)`` line (``<null>`` where unknown), else None."""
    m = _FRAME.match(line)
    if m is None:
        return None
    rest = _BUILD_ID.sub("", m["rest"].rstrip())
    module = None
    if (mod := _MODULE.search(rest)) is not None:
        module = mod["module"]
        rest = rest[: mod.start()]
    function, _, location = rest.rpartition(" ")
    file: str | None = None
    line_no: int | None = None
    if location != "<null>" and (loc := _LOCATION.match(location)) is not None:
        file, line_no = loc["file"], int(loc["line"])
    elif location != "<null>":
        function = rest  # no location column at all: the whole rest names the function
    function = function.strip()
    if function in ("", "<null>"):
        function = "??"
    return Frame(function, file, line_no, module)


@dataclass
class _Section:
    """One labelled part of a report: the line that introduced it and the frames under it."""

    label: str
    frames: list[Frame] = field(default_factory=list)
    lost: bool = False  # "[failed to restore the stack]"


@dataclass
class _Report:
    what: str
    lineno: int
    sections: list[_Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # unlabelled lines: "Location is global ...", the cycle
    more_leaks: int = 0
    summary: str | None = None


def _add_line(report: _Report, line: str) -> None:
    text = line.strip()
    if not text:
        return
    frame = parse_frame(line)
    if frame is not None:
        last = report.sections[-1] if report.sections else None
        if last is None or last.lost or (last.frames and text.startswith("#0 ")):
            report.sections.append(_Section(""))  # a stack with no label (the signal-unsafe call)
        report.sections[-1].frames.append(frame)
        return
    if text == _NO_STACK:
        if not report.sections:
            report.sections.append(_Section(""))
        report.sections[-1].lost = True
        return
    if (more := _MORE_LEAKS.match(text)) is not None:
        report.more_leaks += int(more["n"])
        return
    if text.endswith(":") and not text.startswith("Cycle in lock order graph"):
        report.sections.append(_Section(text.removesuffix(":")))
        return
    report.notes.append(text)


def _finding(report: _Report) -> Finding:
    sections = [s for s in report.sections if s.frames or s.lost or s.label]
    primary = sections[0] if sections else _Section("")
    related = tuple(Trace(s.label, tuple(s.frames)) for s in sections[1:])
    size = _ACCESS_SIZE.search(primary.label) if primary.label.split(" ", 1)[0] != "Location" else None
    parts = [f"ThreadSanitizer: {report.what}"]
    if primary.label:
        parts.append(primary.label)
    parts += [n for n in report.notes if n.startswith(("Location is", "Cycle in lock order graph"))]
    kind = _kind(report.what)
    return Finding(
        TOOL,
        kind,
        "; ".join(parts),
        bytes=int(size["size"]) if size is not None else None,
        blocks=1 + report.more_leaks if kind == "thread-leak" else None,
        stack=tuple(primary.frames),
        related=related,
        truncated=any(s.lost for s in sections),
    )


def _runtime_failure(line: str, source: str, lineno: int) -> None:
    for pattern, hint in _RUNTIME_FAILURES:
        if pattern.search(line):
            raise ParseError(
                f"{source}:{lineno}: ThreadSanitizer could not watch this run: {line.strip()} ({hint})"
            )


def parse_text(text: str, source: str = "<text>") -> ParsedCell:
    """Every report in ``text`` as an unattributed finding; lines outside reports are ignored."""
    findings: list[Finding] = []
    report: _Report | None = None
    opened_at: int | None = None  # a delimiter seen, its WARNING line not yet
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        _runtime_failure(line, source, lineno)
        stripped = line.strip()
        if report is None:
            if stripped == _DELIMITER:
                opened_at = lineno
            elif (warning := _WARNING.match(stripped)) is not None:
                # A delimiter normally comes first; a WARNING alone still opens a report.
                report = _Report(warning["what"], lineno)
                opened_at = None
            elif opened_at is not None and stripped:
                opened_at = None  # a delimiter that opened nothing (e.g. another tool's banner)
            continue
        if report.summary is not None:
            if stripped == _DELIMITER:
                findings.append(_finding(report))
                report = None
                continue
            raise ParseError(
                f"{source}:{lineno}: report {report.what!r} (line {report.lineno}) is not closed by "
                f"its {_DELIMITER} line after SUMMARY (truncated?)"
            )
        if (summary := _SUMMARY.match(stripped)) is not None:
            report.summary = summary["rest"]
            continue
        if stripped == _DELIMITER or _WARNING.match(stripped):
            raise ParseError(
                f"{source}:{lineno}: report {report.what!r} (line {report.lineno}) "
                "has no SUMMARY line (truncated?)"
            )
        _add_line(report, line)
    if report is not None:
        missing = "closing delimiter" if report.summary is not None else "SUMMARY line"
        raise ParseError(f"{source}:{report.lineno}: report {report.what!r} has no {missing} (truncated?)")
    return ParsedCell(tuple(findings))


def parse_files(paths: Iterable[Path]) -> ParsedCell:
    """Findings from every file (per-pid logs, then the subject's stderr)."""
    return parse_each(paths, parse_text)


def parse_cell(cell_dir: Path) -> ParsedCell:
    """The runner's logs, then the plugin's per-test files with each finding's test; a file
    cut short does not hide the others (as ``parse_each``)."""
    journal = journals.read(cell_dir / DIR / JOURNAL)
    files: list[tuple[Path, str | None, tuple[str, ...]]] = []
    for path in log_files(cell_dir):
        pid = path.name.rsplit(".", 1)[-1]
        other = journal is not None and pid.isdigit() and int(pid) not in journal.pids
        # Another process's log (a test's subprocess) is the test's during which it was written.
        files.append((path, journal.written_during(path) if other and journal else None, ()))
    files += [(r.path, r.test, r.span) for r in journals.report_files(cell_dir, TOOL)]
    tags = {path: (test, span) for path, test, span in files}

    def tagged(path: Path, one: ParsedCell) -> ParsedCell:
        test, span = tags[path]
        return ParsedCell(tuple(journals.tag(one.findings, test, span)))

    return parse_each(tags, parse_text, then=tagged)


@dataclass(frozen=True)
class TsanParser:
    """The tsan parser: the runner's per-pid logs, the subject's stderr and the per-test files.
    The subject's exit is not needed: TSan's exit code replaces the subject's own whenever it
    reported, so the reports, not the code, classify."""

    id: str = TOOL

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return [*log_files(cell_dir), *(r.path for r in journals.report_files(cell_dir, TOOL))]

    def parse(self, cell_dir: Path) -> ParsedCell:
        return parse_cell(cell_dir)


def make_parser() -> TsanParser:
    """The parser ``pyharness.registry.parser_for("tsan")`` returns."""
    return TsanParser()
