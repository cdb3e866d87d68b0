"""pyharness's pytest plugin: where each test begins and ends, for the tool the subject runs under.

The cell's plan loads it into the subject of every pytest workload (``-p
_pyharness_pertest``, with this folder on the subject's ``PYTHONPATH``); the
user's suite is not changed. It is one module of the standard library and its
host, pytest, and nothing else: the subject's interpreter may be another than
the orchestrator's. It does nothing unless ``PYHARNESS_PERTEST_JOURNAL`` is set.
The orchestrator's side of the contract is ``pyharness/pertest.py`` (the same
names; a unit test keeps the two in step).

Environment (set by the tool's runner)::

    PYHARNESS_PERTEST_JOURNAL   the journal: one JSON object a line, one os.write each
    PYHARNESS_PERTEST_TOOL      asan, tsan, valgrind, memray; any other: journal and probes only
    PYHARNESS_PERTEST_REPORTS   asan, tsan: the folder of the per-test report files
    PYHARNESS_PERTEST_VGHELPER  valgrind: the client-request helper (pyharness/native/vghelper.c)
    PYHARNESS_PERTEST_BUDGET    asan, valgrind: the share of test time leak checks may take
                                (0.2); "every": a check after every test
    PYHARNESS_PERTEST_GAP_MS    memray: a pause before each test (15), so that memray's
                                memory snapshots (every 10 ms) fall between any two tests
    PYHARNESS_PERTEST_SELECT    node ids to run, one a line (a re-run of part of the suite)

For every test, before its setup and after its teardown: a ``test_start`` and a
``test_end`` event (outcome, duration, RSS, and what it left behind: the
descriptors and threads that appeared during it and were still there 0.2 s
after it); descriptors and threads left at the end of the session are named in
``session_end`` with the test that opened them. Per tool:

- asan: ASan's and UBSan's reports during test ``i`` go to ``t<i>.<pid>`` and
  ``t<i>.ubsan.<pid>`` (UBSan is a runtime of its own, libubsan, with its own
  report path). A leak check (garbage collected until stable, CPython's frame
  chunks registered as LSan root regions, ``__lsan_do_recoverable_leak_check``)
  writes to ``c<i>.<pid>``; every object it reported is then ignored
  (``__lsan_ignore_object``, the runner sets ``report_objects=1``), so the next
  check reports only new leaks. One check after the last test; before it, a
  check when the test time since the last one times the budget reaches the
  last check's cost (``FIRST_COST_S`` before the first): a leak is then one of
  the tests the check covered, and the cell names it by a re-run of those
  tests with ``budget`` "every", which also checks before the first test (what
  collection left is no test's). Each ``check`` event says which tests it
  covers. The exit-time check writes to ``session.<pid>``.
- tsan: reports during test ``i`` go to ``t<i>.<pid>`` (the test during which
  they fired); TSan's background thread is started before the first probe.
- valgrind: ``VALGRIND_PRINTF`` markers in memcheck's output (``<clientmsg>``):
  ``pyharness-pertest test <i> <node id>`` before each test, ``pyharness-pertest
  check <first> <last>`` before each ``VALGRIND_DO_ADDED_LEAK_CHECK`` (on the same
  schedule), ``pyharness-pertest session`` after the last check.
- memray: a pause before each test (memray's capture is attributed by time).

SIGTERM (the orchestrator's time limit) is journalled, then kills the process
as it would have; the journal says which test was running whatever ends it.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import resource
import signal
import sys
import threading
import time
from typing import Any

import pytest

JOURNAL_ENV = "PYHARNESS_PERTEST_JOURNAL"
TOOL_ENV = "PYHARNESS_PERTEST_TOOL"
REPORTS_ENV = "PYHARNESS_PERTEST_REPORTS"
VGHELPER_ENV = "PYHARNESS_PERTEST_VGHELPER"
BUDGET_ENV = "PYHARNESS_PERTEST_BUDGET"
GAP_ENV = "PYHARNESS_PERTEST_GAP_MS"
SELECT_ENV = "PYHARNESS_PERTEST_SELECT"
MARKER = "pyharness-pertest"
DEFAULT_BUDGET = 0.2
DEFAULT_GAP_MS = 15.0
GRACE_S = 0.2  # how long a test's new threads and descriptors get to go before they count as left
GC_PASSES = 10  # gc.collect() until it finds nothing, at most this often
# What a check is taken to cost before one has been made (measured 0.1-0.25 s of CPU under ASan
# with a pytest heap, 0.4 s under memcheck): the first check under a budget comes after this
# times 1/budget of test time, so a short suite has only the check after its last test.
FIRST_COST_S = 0.5

_OBJECT = re.compile(rb"^(0x[0-9a-f]+) \(\d+ bytes\)$", re.MULTILINE)
_RTLD_NOLOAD = 4


def test_file(index: int) -> str:
    """The per-test report name: ``t00012``."""
    return f"t{index:05d}"


def check_file(after: int) -> str:
    """The report name of the leak check made after test ``after`` (0: before the first)."""
    return f"c{after:05d}"


class Journal:
    """JSON lines, each one ``os.write`` on an ``O_APPEND`` descriptor: a line written outlives
    the process however it ends (SIGKILL, a crash, a sanitizer's ``_exit``)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self.pid = os.getpid()

    def write(self, event: str, **fields: Any) -> None:
        record = {"ev": event, "t": round(time.time(), 6), "pid": self.pid, **fields}
        os.write(self.fd, (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode())

    def close(self) -> None:
        os.close(self.fd)


def _cpu_s() -> float:
    """CPU seconds of this process and its reaped children: LSan's leak check runs in a task
    cloned without CLONE_THREAD, which RUSAGE_SELF does not count."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def gc_until_stable() -> int:
    """Collect until a pass finds nothing (a finaliser may make new garbage); the passes made."""
    for passes in range(1, GC_PASSES + 1):
        if gc.collect() == 0:
            return passes
    return GC_PASSES


def _function(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Any:
    # lib[name], not lib.name: inside a class body Python would mangle a __name.
    fn = lib[name]
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


# -- descriptors, threads, RSS ---------------------------------------------------------------------


def _fds() -> set[int]:
    try:
        return {int(n) for n in os.listdir("/proc/self/fd")}
    except OSError:
        return set()


def _tids() -> set[int]:
    try:
        return {int(n) for n in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _rss() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _target(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None  # closed since (the listing's own descriptor is)


def _thread_name(tid: int) -> str:
    for thread in threading.enumerate():
        if getattr(thread, "native_id", None) == tid:
            return f"Python thread {thread.name!r}"
    try:
        with open(f"/proc/self/task/{tid}/comm", encoding="utf-8", errors="replace") as f:
            return f"native thread {f.read().strip()!r}"
    except OSError:
        return "a thread that has ended"


class Probes:
    """What each test leaves behind. A descriptor (its number and what it points to) or a
    thread that appears during a test and is still there ``GRACE_S`` later is a candidate;
    one still there at the session's end (the same number and target, the same tid) is
    named, with its test. A module fixture's file closed at the module's end is a
    candidate, never named. Descriptors are compared by target too: pytest's output
    capture closes and reopens descriptors around every test, so a number alone is reused."""

    def __init__(self, ignored_prefix: str) -> None:
        self.ignored = ignored_prefix  # the tools' own report files
        self.fds: dict[int, tuple[str, int]] = {}  # fd -> (target, test index)
        self.threads: dict[int, tuple[str, int]] = {}  # tid -> (name, test index)
        self.before: tuple[dict[int, str], set[int], int] = ({}, set(), 0)

    @staticmethod
    def _targets() -> dict[int, str]:
        out = {}
        for fd in _fds():
            target = _target(fd)
            if target is not None:
                out[fd] = target
        return out

    def start(self) -> None:
        self.before = (self._targets(), _tids(), _rss())

    def _new_fds(self, fds: dict[int, str]) -> dict[int, str]:
        return {
            fd: target
            for fd, target in self._targets().items()
            if fds.get(fd) != target and not target.startswith(self.ignored)
        }

    def stop(self, index: int) -> dict[str, Any]:
        fds, tids, rss = self.before
        new_fds, new_tids = self._new_fds(fds), _tids() - tids
        deadline = time.monotonic() + GRACE_S
        while (new_fds or new_tids) and time.monotonic() < deadline:
            time.sleep(0.005)
            new_fds, new_tids = self._new_fds(fds), new_tids & _tids()
        out: dict[str, Any] = {"rss": [rss, _rss()]}
        if new_fds:
            out["fds"] = {str(fd): target for fd, target in sorted(new_fds.items())}
            self.fds.update({fd: (target, index) for fd, target in new_fds.items()})
        if new_tids:
            names = {tid: _thread_name(tid) for tid in sorted(new_tids)}
            out["threads"] = {str(tid): name for tid, name in names.items()}
            self.threads.update({tid: (name, index) for tid, name in names.items()})
        return out

    def left(self) -> dict[str, list[dict[str, Any]]]:
        tids = _tids()
        return {
            "fds": [
                {"fd": fd, "target": target, "i": index}
                for fd, (target, index) in sorted(self.fds.items())
                if _target(fd) == target
            ],
            "threads": [
                {"tid": tid, "name": name, "i": index}
                for tid, (name, index) in sorted(self.threads.items())
                if tid in tids
            ],
        }


class Schedule:
    """When the next leak check is due: after every test (``budget`` None), or when the test
    time since the last check times ``budget`` reaches what the last check cost (before the
    first, ``FIRST_COST_S``). A check skipped loses nothing: the next one reports it, for the
    range of tests it covers."""

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.first = 1  # the first test the next check covers
        self.test_s = 0.0
        self.cost_s = FIRST_COST_S if budget is not None else 0.0

    def ran(self, seconds: float) -> bool:
        self.test_s += seconds
        return self.budget is None or self.test_s * self.budget >= self.cost_s

    def checked(self, last: int, cost_s: float) -> tuple[int, int]:
        covered = (self.first, last)
        self.first, self.test_s, self.cost_s = last + 1, 0.0, cost_s
        return covered


def _budget(text: str | None) -> float | None:
    if text is None or not text.strip():
        return DEFAULT_BUDGET
    if text.strip() == "every":
        return None
    return max(float(text), 0.0)


# -- the tools -------------------------------------------------------------------------------------


class DataStackRoots:
    """CPython 3.11+ keeps frames (their locals and temporaries) in mmap'd chunks LSan does
    not scan: an object only a running frame refers to would look leaked. The chunks of
    every thread, found from each ``PyThreadState`` by the shape of three of its fields
    (``datastack_chunk``, ``datastack_top``, ``datastack_limit``: chunk < top <= limit ==
    chunk + chunk->size), so no struct layout of any version is compiled in."""

    def __init__(self) -> None:
        api = ctypes.pythonapi
        self.get = _function(api, "PyThreadState_Get", ctypes.c_void_p)
        self.interp = _function(api, "PyInterpreterState_Get", ctypes.c_void_p)
        self.head = _function(api, "PyInterpreterState_ThreadHead", ctypes.c_void_p, ctypes.c_void_p)
        self.next = _function(api, "PyThreadState_Next", ctypes.c_void_p, ctypes.c_void_p)
        self.offset = self._offset(self.get()) if sys.version_info >= (3, 11) else None

    @staticmethod
    def _word(address: int) -> int:
        return int(ctypes.c_size_t.from_address(address).value)

    def _offset(self, state: int) -> int | None:
        for offset in range(0, 1024, 8):
            chunk, top, limit = (self._word(state + offset + k) for k in (0, 8, 16))
            if chunk >= 4096 and chunk < top <= limit and limit - chunk == self._word(chunk + 8):
                return offset
        return None

    def regions(self) -> list[tuple[int, int]]:
        if self.offset is None:
            return []
        out = []
        state = self.head(self.interp())
        while state:
            chunk = self._word(state + self.offset)
            while chunk:
                out.append((chunk, self._word(chunk + 8)))  # _PyStackChunk {previous, size, ...}
                chunk = self._word(chunk)
            state = self.next(state)
        return out


class Asan:
    """ASan, LSan and UBSan through the preloaded runtime's interface (see the module docstring)."""

    def __init__(self, reports: str) -> None:
        self.reports = reports
        rt = ctypes.CDLL(None)
        self.path = _function(rt, "__sanitizer_set_report_path", None, ctypes.c_char_p)
        self.leak_check = _function(rt, "__lsan_do_recoverable_leak_check", ctypes.c_int)
        self.ignore = _function(rt, "__lsan_ignore_object", None, ctypes.c_void_p)
        self.register = _function(rt, "__lsan_register_root_region", None, ctypes.c_void_p, ctypes.c_size_t)
        self.unregister = _function(
            rt, "__lsan_unregister_root_region", None, ctypes.c_void_p, ctypes.c_size_t
        )
        self.roots = DataStackRoots()
        self.ubsan: Any = None

    def _ubsan_path(self) -> Any:
        """libubsan's own ``__sanitizer_set_report_path``, once the extension has loaded it."""
        if self.ubsan is None:
            try:
                lib = ctypes.CDLL("libubsan.so.1", mode=_RTLD_NOLOAD)
            except OSError:
                return None
            self.ubsan = _function(lib, "__sanitizer_set_report_path", None, ctypes.c_char_p)
        return self.ubsan

    def report_to(self, name: str) -> None:
        prefix = os.path.join(self.reports, name)
        self.path(prefix.encode())
        ubsan = self._ubsan_path()
        if ubsan is not None:
            ubsan(f"{prefix}.ubsan".encode())

    def check(self, name: str) -> dict[str, Any]:
        passes = gc_until_stable()
        self.report_to(name)
        regions = self.roots.regions()
        for begin, size in regions:
            self.register(begin, size)
        try:
            found = self.leak_check()
        finally:
            for begin, size in regions:
                self.unregister(begin, size)
        ignored = 0
        if found:
            suffix = f".{os.getpid()}"
            path = os.path.join(self.reports, name + suffix)
            try:
                with open(path, "rb") as f:
                    text = f.read()
            except OSError:
                text = b""
            for address in _OBJECT.findall(text):
                self.ignore(int(address, 16))
                ignored += 1
        return {"gc": passes, "found": bool(found), "ignored": ignored}


class Tsan:
    def __init__(self, reports: str) -> None:
        self.reports = reports
        self.path = _function(ctypes.CDLL(None), "__sanitizer_set_report_path", None, ctypes.c_char_p)
        # The runtime starts a thread of its own at the first pthread_create: start it now, or
        # the thread probe would name it as left behind by the first test to start a thread.
        warm = threading.Thread(target=lambda: None, name="pyharness-tsan-warmup")
        warm.start()
        warm.join()

    def report_to(self, name: str) -> None:
        self.path(os.path.join(self.reports, name).encode())


class Valgrind:
    def __init__(self, helper: str) -> None:
        lib = ctypes.CDLL(helper)
        self.running = bool(_function(lib, "ph_running_on_valgrind", ctypes.c_int)())
        self.say = _function(lib, "ph_printf", ctypes.c_int, ctypes.c_char_p)
        self.added = _function(lib, "ph_leak_check_added", None)
        self.errors = _function(lib, "ph_count_errors", ctypes.c_uint)

    def mark(self, text: str) -> None:
        self.say(f"{MARKER} {text}".encode("utf-8", "backslashreplace"))

    def check(self, first: int, last: int) -> dict[str, Any]:
        passes = gc_until_stable()
        self.mark(f"check {first} {last}")
        self.added()
        return {"gc": passes}


# -- the plugin ------------------------------------------------------------------------------------


class PerTest:
    def __init__(self, journal: str, env: Any) -> None:
        self.journal = Journal(journal)
        self.tool = env.get(TOOL_ENV, "")
        reports = env.get(REPORTS_ENV) or os.path.dirname(os.path.abspath(journal))
        os.makedirs(reports, exist_ok=True)
        self.probes = Probes(os.path.dirname(os.path.abspath(journal)) + os.sep)
        self.schedule = Schedule(_budget(env.get(BUDGET_ENV)))
        self.gap_s = float(env.get(GAP_ENV) or DEFAULT_GAP_MS) / 1e3 if self.tool == "memray" else 0.0
        self.asan: Asan | None = None
        self.tsan: Tsan | None = None
        self.valgrind: Valgrind | None = None
        problem = None
        try:
            if self.tool == "asan":
                self.asan = Asan(reports)
            elif self.tool == "tsan":
                self.tsan = Tsan(reports)
            elif self.tool == "valgrind" and env.get(VGHELPER_ENV):
                valgrind = Valgrind(env[VGHELPER_ENV])
                self.valgrind = valgrind if valgrind.running else None
        except (OSError, AttributeError) as err:  # a runtime without the interface: journal only
            problem = f"{type(err).__name__}: {err}"
        self.index = 0
        self.started = False
        self.outcomes: dict[str, str] = {}
        self.t0 = 0.0
        self.errors0 = self.valgrind.errors() if self.valgrind else 0
        self.stopping = False
        self.journal.write(
            "session_start", tool=self.tool, argv=sys.argv, python=sys.version.split()[0], problem=problem
        )

    @property
    def checks(self) -> bool:
        return self.asan is not None or self.valgrind is not None

    def _check(self, last: int) -> None:
        started, cpu = time.perf_counter(), _cpu_s()
        if self.asan is not None:
            result = self.asan.check(check_file(last))
        elif self.valgrind is not None:
            result = self.valgrind.check(self.schedule.first, last)
        else:
            return
        cost = time.perf_counter() - started
        first, last = self.schedule.checked(last, cost)
        cpu = _cpu_s() - cpu
        self.journal.write("check", first=first, last=last, s=round(cost, 6), cpu=round(cpu, 6), **result)

    def before(self, item: pytest.Item) -> None:
        if not self.started:
            self.started = True
            if self.schedule.budget is None:
                self._check(0)  # what collection left is no test's
        if self.gap_s:
            time.sleep(self.gap_s)
        self.index += 1
        self.journal.write("test_start", i=self.index, id=item.nodeid)
        if self.asan is not None:
            self.asan.report_to(test_file(self.index))
        elif self.tsan is not None:
            self.tsan.report_to(test_file(self.index))
        elif self.valgrind is not None:
            self.valgrind.mark(f"test {self.index} {item.nodeid}")
        self.probes.start()
        self.t0 = time.perf_counter()

    def after(self, item: pytest.Item, interrupted: bool) -> None:
        seconds = time.perf_counter() - self.t0
        self.stopping = self.stopping or interrupted
        outcome = self.outcomes.pop(item.nodeid, "interrupted" if interrupted else "passed")
        fields = self.probes.stop(self.index)
        if self.valgrind is not None:
            errors = self.valgrind.errors()  # repeats too: memcheck prints an error only once
            if errors != self.errors0:
                fields["errors"] = errors - self.errors0
                self.errors0 = errors
        self.journal.write(
            "test_end", i=self.index, id=item.nodeid, outcome=outcome, s=round(seconds, 6), **fields
        )
        if self.checks and not self.stopping and self.schedule.ran(seconds):
            self._check(self.index)

    def report(self, report: pytest.TestReport) -> None:
        previous = self.outcomes.get(report.nodeid)
        if report.failed:
            if previous not in ("failed", "error"):
                self.outcomes[report.nodeid] = "failed" if report.when == "call" else "error"
        elif report.skipped and previous is None:
            self.outcomes[report.nodeid] = "skipped"

    def finish(self, exitstatus: int) -> None:
        if self.checks and self.started and not self.stopping and self.schedule.first <= self.index:
            self._check(self.index)  # the tests since the last check
        if self.valgrind is not None:
            self.valgrind.mark("session")
        elif self.asan is not None:
            self.asan.report_to("session")
        elif self.tsan is not None:
            self.tsan.report_to("session")
        self.journal.write("session_end", status=int(exitstatus), tests=self.index, left=self.probes.left())

    def on_signal(self, signum: int, _frame: Any) -> None:
        """The orchestrator's SIGTERM (the cell's time limit): say so, then die of it as the
        process would have. Not a KeyboardInterrupt: pytest's teardown and a tool's exit-time
        report (memcheck's whole-heap leak search) can outlast the grace before SIGKILL, and
        a run killed then leaves its report unfinished (measured: a missing-decref mutant's
        valgrind cell ignored SIGTERM for the whole 8 s)."""
        self.stopping = True
        self.journal.write("signal", signum=signum, running=self.index)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


_STATE: dict[str, PerTest] = {}


def pytest_configure(config: pytest.Config) -> None:
    journal = os.environ.get(JOURNAL_ENV)
    if not journal or "run" in _STATE:
        return
    run = _STATE["run"] = PerTest(journal, os.environ)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, run.on_signal)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = _STATE.pop("run", None)
    if run is None:
        return
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == run.on_signal
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    run.journal.close()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = os.environ.get(SELECT_ENV)
    if "run" not in _STATE or not wanted:
        return
    ids = {line for line in wanted.splitlines() if line}
    kept = [item for item in items if item.nodeid in ids]
    dropped = [item for item in items if item.nodeid not in ids]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_collection_finish(session: pytest.Session) -> None:
    run = _STATE.get("run")
    if run is not None:
        run.journal.write("collected", n=len(session.items))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    run = _STATE.get("run")
    if run is None:
        yield
        return
    run.before(item)
    outcome = yield
    run.after(item, interrupted=outcome.excinfo is not None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    run = _STATE.get("run")
    if run is not None:
        run.report(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = _STATE.get("run")
    if run is not None:
        run.finish(exitstatus)
