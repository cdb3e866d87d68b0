"""Read the journal pyharness's pytest plugin wrote in the subject: which test ran when, and how.

Format: JSON lines, written by ``pyharness/_subject/_pyharness_pertest.py``
(its docstring), one ``os.write`` per line, so a line is whole or absent
however the subject ended. Every object has ``ev`` (the event), ``t``
(``time.time()``) and ``pid`` (the process; several when the suite forks
workers). Lines matched, e.g.::

    {"ev":"session_start","t":1764640001.2,"pid":4242,"tool":"asan","argv":[...],"python":"3.11.7"}
    {"ev":"collected","t":...,"pid":4242,"n":10}
    {"ev":"check","t":...,"pid":4242,"first":1,"last":0,"s":0.104,"gc":2,"found":false,"ignored":0}
    {"ev":"test_start","t":...,"pid":4242,"i":1,"id":"tests/test_rle.py::test_round_trip[]"}
    {"ev":"test_end","t":...,"pid":4242,"i":1,"id":"...","outcome":"passed","s":0.002,"rss":[a,b],
     "fds":{"7":"/dev/null"},"threads":{"4250":"Python thread 'worker'"}}
    {"ev":"signal","t":...,"pid":4242,"signum":15,"running":7}
    {"ev":"session_end","t":...,"pid":4242,"status":1,"tests":10,
     "left":{"fds":[{"fd":7,"target":"/dev/null","i":4}],"threads":[{"tid":4250,"name":"...","i":2}]}}

Outcomes: ``passed``, ``failed`` (the call), ``error`` (setup or teardown),
``skipped`` (xfail included, as in JUnit), ``interrupted``. A check covers tests
``first`` to ``last`` of its process (``last`` 0: before the first test). A
line that is not JSON is skipped (only a journal someone else appended to has
one); a missing journal is None (the plugin was not loaded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pyharness.model import LEFT_FD, LEFT_THREAD, Finding, TestOutcome
from pyharness.pertest import DIR, JOURNAL

FAILED_SHOWN = 20  # ids kept in a TestOutcome; the counts say how many there were


@dataclass(frozen=True)
class TestRecord:
    """One test as the journal saw it."""

    __test__ = False

    pid: int
    index: int  # 1-based, per process
    id: str  # pytest's node id
    start: float  # time.time()
    end: float | None = None  # None: it never ended (the process died, or was killed, during it)
    outcome: str | None = None
    seconds: float | None = None
    rss: tuple[int, int] | None = None  # bytes, before and after
    fds: Mapping[str, str] = field(default_factory=dict)  # left open 0.2 s after it: fd -> target
    threads: Mapping[str, str] = field(default_factory=dict)  # still running 0.2 s after it


@dataclass(frozen=True)
class Check:
    """One leak check, covering tests ``first``..``last`` of process ``pid``."""

    pid: int
    first: int
    last: int
    t: float
    seconds: float


@dataclass(frozen=True)
class Left:
    """A descriptor or thread a test opened that was still there at the session's end."""

    pid: int
    index: int  # the test that opened it
    what: str  # "descriptor 7 (/dev/null)", "Python thread 'worker' (tid 4250)"
    kind: str  # LEFT_FD or LEFT_THREAD


@dataclass(frozen=True)
class Journal:
    tests: tuple[TestRecord, ...]
    checks: tuple[Check, ...] = ()
    collected: int | None = None
    finished: bool = False  # every process that ran tests ended its session
    signal: int | None = None
    left: tuple[Left, ...] = ()
    tool: str = ""
    problems: tuple[str, ...] = ()  # the plugin could not reach a tool's interface

    def test(self, pid: int, index: int) -> str | None:
        """The node id of test ``index`` of process ``pid``."""
        return self._ids.get((pid, index))

    @cached_property
    def _ids(self) -> dict[tuple[int, int], str]:
        return {(t.pid, t.index): t.id for t in self.tests}

    def covered(self, pid: int, first: int, last: int) -> tuple[str, ...]:
        """The node ids of tests ``first``..``last`` of process ``pid``, in order."""
        ids = self._ids
        return tuple(ids[(pid, i)] for i in range(first, last + 1) if (pid, i) in ids)

    def running(self) -> TestRecord | None:
        """The last test that started and never ended normally, if the run ended in one."""
        cut = [t for t in self.tests if t.end is None or t.outcome == "interrupted"]
        return cut[-1] if cut else None

    def running_in(self, pid: int) -> TestRecord | None:
        """``running()`` of one process."""
        cut = [t for t in self.tests if t.pid == pid and (t.end is None or t.outcome == "interrupted")]
        return cut[-1] if cut else None

    @cached_property
    def pids(self) -> frozenset[int]:
        return frozenset(t.pid for t in self.tests)

    def written_during(self, path: Path) -> str | None:
        """The test during which ``path`` was last written: a report another process wrote (a
        test's subprocess, which writes its report as it exits, while its test waits)."""
        try:
            written = path.stat().st_mtime
        except OSError:
            return None
        test = self.at(written)
        return test.id if test is not None else None

    def at(self, t: float) -> TestRecord | None:
        """The test running at time ``t`` (an ended test's interval, or the test left running)."""
        for test in self.tests:
            if test.start <= t and (test.end is None or t <= test.end):
                return test
        return None


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_lines(lines: Iterable[str | bytes]) -> Journal:
    reader = _Reader()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            reader.take(record)
    return reader.journal()


class _Reader:
    """The journal as its records arrive: one method per event, the rest ignored."""

    def __init__(self) -> None:
        self.tests: dict[tuple[int, int], TestRecord] = {}
        self.checks: list[Check] = []
        self.collected: dict[int, int] = {}
        self.started: set[int] = set()
        self.ended: set[int] = set()
        self.left: list[Left] = []
        self.signum: int | None = None
        self.tool = ""
        self.problems: list[str] = []

    def take(self, record: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{record.get('ev')}", None)
        if handler is not None:
            handler(record, _int(record.get("pid")), float(record.get("t", 0.0)))

    def _on_session_start(self, record: dict[str, Any], pid: int, t: float) -> None:
        self.tool = str(record.get("tool") or self.tool)
        if record.get("problem"):
            self.problems.append(str(record["problem"]))

    def _on_collected(self, record: dict[str, Any], pid: int, t: float) -> None:
        self.collected[pid] = _int(record.get("n"))

    def _on_test_start(self, record: dict[str, Any], pid: int, t: float) -> None:
        index = _int(record.get("i"))
        self.tests[(pid, index)] = TestRecord(pid, index, str(record.get("id", "?")), t)
        self.started.add(pid)

    def _on_test_end(self, record: dict[str, Any], pid: int, t: float) -> None:
        key = (pid, _int(record.get("i")))
        begun = self.tests.get(key)
        rss = record.get("rss")
        self.tests[key] = TestRecord(
            pid,
            key[1],
            str(record.get("id", begun.id if begun else "?")),
            begun.start if begun else t,
            end=t,
            outcome=str(record.get("outcome", "passed")),
            seconds=float(record.get("s", 0.0)),
            rss=(int(rss[0]), int(rss[1])) if isinstance(rss, list) and len(rss) == 2 else None,
            fds={str(k): str(v) for k, v in (record.get("fds") or {}).items()},
            threads={str(k): str(v) for k, v in (record.get("threads") or {}).items()},
        )

    def _on_check(self, record: dict[str, Any], pid: int, t: float) -> None:
        first, last = _int(record.get("first")), _int(record.get("last"))
        self.checks.append(Check(pid, first, last, t, float(record.get("s", 0.0))))

    def _on_signal(self, record: dict[str, Any], pid: int, t: float) -> None:
        self.signum = _int(record.get("signum")) or None

    def _on_session_end(self, record: dict[str, Any], pid: int, t: float) -> None:
        self.ended.add(pid)
        found = record.get("left") or {}
        for fd in found.get("fds", ()):
            what = f"descriptor {fd.get('fd')} ({fd.get('target')})"
            self.left.append(Left(pid, _int(fd.get("i")), what, LEFT_FD))
        for thread in found.get("threads", ()):
            what = f"{thread.get('name')} (tid {thread.get('tid')})"
            self.left.append(Left(pid, _int(thread.get("i")), what, LEFT_THREAD))

    def journal(self) -> Journal:
        return Journal(
            tests=tuple(sorted(self.tests.values(), key=lambda r: (r.start, r.pid, r.index))),
            checks=tuple(self.checks),
            # Workers of one suite each collect all of it: the largest count is the suite's.
            collected=max(self.collected.values()) if self.collected else None,
            finished=(self.started <= self.ended) if self.started else bool(self.ended),
            signal=self.signum,
            left=tuple(self.left),
            tool=self.tool,
            problems=tuple(self.problems),
        )


def read(path: Path) -> Journal | None:
    """The journal at ``path``, or None when there is none (the plugin was not loaded)."""
    try:
        with path.open("rb") as f:
            return parse_lines(f)
    except FileNotFoundError:
        return None


def outcome(journal: Journal) -> TestOutcome:
    """The tests' outcome as the journal tells it (a killed run's included)."""
    done = [t for t in journal.tests if t.end is not None and t.outcome != "interrupted"]
    failed = [t.id for t in done if t.outcome in ("failed", "error")]
    running = journal.running()
    return TestOutcome(
        tests=len(done),
        failures=sum(1 for t in done if t.outcome == "failed"),
        errors=sum(1 for t in done if t.outcome == "error"),
        skipped=sum(1 for t in done if t.outcome == "skipped"),
        failed=tuple(failed[:FAILED_SHOWN]),
        collected=journal.collected,
        running=running.id if running is not None else None,
        complete=journal.finished and journal.signal is None and running is None,
    )


def junit_name(node_id: str) -> str:
    """How the JUnit parser names a test: ``tests/a.py::C::t`` -> ``tests.a.C::t``."""
    parts = node_id.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    return "::".join((".".join((module, *parts[1:-1])), parts[-1])) if len(parts) > 1 else node_id


def combined(junit: TestOutcome | None, journal: Journal | None) -> TestOutcome | None:
    """The suite's outcome from both reports: pytest's JUnit counts when it wrote them (it
    knows about tests the plugin never saw, e.g. collection errors), the journal's
    collected count, running test and completeness; the journal alone for a killed run."""
    if journal is None:
        return junit
    told = outcome(journal)
    if junit is None:
        return told
    # The failed tests by node id (as findings name them), then any only JUnit knows of.
    spelled = {junit_name(test) for test in told.failed}
    failed = (*told.failed, *(name for name in junit.failed if name not in spelled))
    return TestOutcome(
        junit.tests,
        junit.failures,
        junit.errors,
        junit.skipped,
        failed[:FAILED_SHOWN],
        collected=told.collected,
        running=told.running,
        complete=told.complete,
    )


def left_behind(journal: Journal, tool: str) -> tuple[Finding, ...]:
    """What tests left open to the session's end, as informational findings naming each test."""
    out = []
    for item in journal.left:
        test = journal.test(item.pid, item.index)
        verb = "left open" if item.kind == LEFT_FD else "left running"
        out.append(
            Finding(
                tool,
                item.kind,
                f"{item.what} {verb} to the end of the session by {test or 'a test'}",
                informational=True,
                test=test,
            )
        )
    return tuple(out)


def tag(findings: Sequence[Finding], test: str | None, span: Sequence[str] = ()) -> list[Finding]:
    """``findings`` marked with the test (or the tests) they were reported during."""
    if test is None and len(span) == 1:
        test, span = span[0], ()
    return [replace(f, test=test, span=tuple(span) if test is None else ()) for f in findings]


# -- per-test report files (the sanitizers') -------------------------------------------------------

_REPORT = re.compile(r"^(?P<what>[tc])(?P<index>\d+)(?P<ubsan>\.ubsan)?\.(?P<pid>\d+)$")
_SESSION = re.compile(r"^session(?:\.ubsan)?\.(?P<pid>\d+)$")


@dataclass(frozen=True)
class ReportFile:
    """One per-test report file of a sanitizer, and the test(s) it belongs to."""

    path: Path
    pid: int
    test: str | None  # the test during which it was written
    span: tuple[str, ...] = ()  # a leak check's tests, when it covered several


def report_files(cell_dir: Path, tool: str) -> list[ReportFile]:
    """The plugin's report files for ``tool`` (``pertest/<tool>/``), each with its test:
    ``t<i>.<pid>`` (and ``.ubsan``) during test ``i``; ``c<i>.<pid>`` the leak check after
    test ``i``, which covered the tests its ``check`` event names; ``session.<pid>`` after
    the last test (no test's)."""
    folder = cell_dir / DIR / tool
    if not folder.is_dir():
        return []
    journal = read(cell_dir / DIR / JOURNAL) or Journal(())
    checks = {(c.pid, c.last): c for c in journal.checks}
    out = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if (session := _SESSION.match(path.name)) is not None:
            out.append(ReportFile(path, int(session["pid"]), None))
            continue
        m = _REPORT.match(path.name)
        if m is None:
            continue
        pid, index = int(m["pid"]), int(m["index"])
        if m["what"] == "t":
            out.append(ReportFile(path, pid, journal.test(pid, index)))
            continue
        check = checks.get((pid, index))
        covered = journal.covered(pid, check.first, check.last) if check is not None else ()
        if len(covered) == 1:
            out.append(ReportFile(path, pid, covered[0]))
        else:
            out.append(ReportFile(path, pid, None, covered))
    return out


__all__ = [
    "Check",
    "Journal",
    "Left",
    "ReportFile",
    "TestRecord",
    "combined",
    "left_behind",
    "outcome",
    "read",
    "report_files",
    "tag",
]
