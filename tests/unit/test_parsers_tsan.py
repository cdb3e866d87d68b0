"""The ThreadSanitizer parser on real captured logs (tests/data/capture_tool_outputs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness.attribution import Policy
from pyharness.errors import ParseError
from pyharness.model import Finding
from pyharness.parsers import tsan
from tests.conftest import THIS

POLICY = Policy.of(THIS)
attribute = POLICY.attribute
attribute_all = POLICY.attribute_all

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures" / "tsan"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"
CASES_SOURCE = "tests/data/tsan_cases.cpp"
NO_REPORT = ("clean", "leak", "uninitialised_branch", "signed_overflow", "scenario_messages")


def capture(name: str) -> tuple[Finding, ...]:
    """The capture's findings, attributed as the pipeline will."""
    return attribute_all(tsan.make_parser().parse(CAPTURES / name).findings)


def log_text(name: str) -> str:
    return (CAPTURES / name / "tsan.log").read_text()


def test_every_capture_parses() -> None:
    names = sorted(p.name for p in CAPTURES.iterdir() if p.is_dir())
    assert {"race", "clean", "lock_order", "thread_leak", "signal_unsafe", "mutant_counter"} <= set(names)
    for name in names:
        if name == "fork_after_threads":
            continue  # the runtime's refusal, tested below
        tsan.make_parser().parse(CAPTURES / name)


def test_parser_leaves_findings_unattributed() -> None:
    (race,) = tsan.make_parser().parse(CAPTURES / "race").findings
    assert race.project_frame is None and not race.suppressed
    assert all(t.project_frame is None for t in race.related)


def test_race_both_accesses_attributed_to_the_canary() -> None:
    (race,) = capture("race")
    assert race.kind == "data-race" and race.counts
    assert race.bytes == 8
    assert "by thread T" in race.message and "canaries::race_counter" in race.message
    assert race.project_frame is not None
    assert race.project_frame.function == "canaries::race_worker(long)"
    assert race.project_frame.file == CANARY_SOURCE and race.project_frame.line
    previous = race.related[0]
    assert previous.label.startswith("Previous write of size 8 at ") and " by thread T" in previous.label
    assert previous.project_frame is not None
    assert previous.project_frame.function == "canaries::race_worker(long)"
    assert previous.project_frame.file == CANARY_SOURCE and previous.project_frame.line
    # The two threads' creation stacks come along, in the tool's words.
    created = [t for t in race.related[1:] if t.label.startswith("Thread T")]
    assert len(created) == 2 and all("created by main thread at" in t.label for t in created)
    assert created[0].stack[0].function.startswith("pthread_create")
    assert not race.truncated


def test_race_access_lines_match_the_canary_source() -> None:
    (race,) = capture("race")
    source = (Path(__file__).resolve().parents[2] / CANARY_SOURCE).read_text().splitlines()
    for frame in (race.project_frame, race.related[0].project_frame):
        assert frame is not None and frame.line is not None
        assert "race_target" in source[frame.line - 1]  # the increment through the volatile pointer


def test_use_after_free_names_the_read_and_the_free() -> None:
    (uaf,) = capture("use_after_free")
    assert uaf.kind == "heap-use-after-free" and uaf.counts
    assert uaf.project_frame is not None and uaf.project_frame.function == "canaries::use_after_free()"
    free = uaf.related[0]
    assert free.label.startswith("Previous write") and "by main thread" in free.label
    assert free.stack[0].function.startswith("operator delete[]")
    assert free.project_frame is not None and free.project_frame.function == "canaries::use_after_free()"


def test_lock_order_inversion() -> None:
    (finding,) = capture("lock_order")
    assert finding.kind == "lock-order-inversion"
    assert "Cycle in lock order graph: M" in finding.message
    assert finding.stack[0].function == "pthread_mutex_lock"
    assert any(f.file == CASES_SOURCE for f in finding.stack)
    labels = [t.label for t in finding.related]
    # second_deadlock_stack=1: each acquisition comes with where the held mutex was taken.
    assert any("previously acquired by the same thread here" in label for label in labels)
    assert any(
        label.startswith("Mutex M") and "acquired here while holding mutex" in label for label in labels
    )
    assert any(label.startswith("Thread T2 ") for label in labels)
    assert not finding.counts  # the scratch program is not the project's code


def test_thread_leak() -> None:
    (leak,) = capture("thread_leak")
    assert leak.kind == "thread-leak" and leak.blocks == 1
    assert leak.message.startswith("ThreadSanitizer: thread leak; Thread T1 ")
    assert [f.function for f in leak.stack[:2]] == ["pthread_create", "thread_leak"]
    assert leak.stack[1].file == CASES_SOURCE


def test_signal_unsafe_calls() -> None:
    findings = capture("signal_unsafe")
    assert [f.kind for f in findings] == ["signal-unsafe-call", "signal-unsafe-call"]
    assert [f.stack[0].function for f in findings] == ["malloc", "free"]
    assert all(f.stack[1].function == "unsafe_handler" for f in findings)
    assert all(f.related == () for f in findings)


@pytest.mark.parametrize("name", NO_REPORT)
def test_runs_tsan_was_silent_on_give_nothing(name: str) -> None:
    assert (CAPTURES / name / "NO_REPORT").is_file()
    assert capture(name) == ()


@pytest.mark.parametrize(
    ("cut_before", "message"),
    [
        ("SUMMARY: ThreadSanitizer", "no SUMMARY"),
        ("  Previous write", "no SUMMARY"),
        ("==================\nThreadSanitizer: reported", "closing delimiter"),
    ],
)
def test_truncated_report_raises(cut_before: str, message: str) -> None:
    text = log_text("race")
    assert tsan.parse_text(text, "race.log").findings  # whole, it parses
    with pytest.raises(ParseError, match=message):
        tsan.parse_text(text[: text.index(cut_before)], "race.log")


def test_report_cut_inside_a_frame_line_raises() -> None:
    text = log_text("lock_order")
    cut = text.index("tsan_cases.cpp:35")
    with pytest.raises(ParseError, match="no SUMMARY"):
        tsan.parse_text(text[:cut], "lock_order.log")


def test_report_interrupted_by_the_next_raises() -> None:
    first, second = log_text("signal_unsafe").split("==================\n==================\n")
    cut = first[: first.index("SUMMARY:")]
    with pytest.raises(ParseError, match="no SUMMARY"):
        tsan.parse_text(cut + "==================\n" + second, "signal_unsafe.log")


def test_core_mutant_race_both_accesses_in_the_server() -> None:
    # mutants/data_race_counter.patch under the core's own suite (capture_tsan_core.py).
    counted = [f for f in capture("mutant_counter") if f.counts]
    assert {f.kind for f in counted} == {"data-race"}
    pairs = set()
    for race in counted:
        previous = race.related[0]
        assert race.project_frame is not None and previous.project_frame is not None
        assert " by thread T" in previous.label or " by thread T" in race.message
        pairs.add((race.project_frame.where(), previous.project_frame.where()))
    files = {where.rsplit(":", 1)[0] for pair in pairs for where in pair}
    assert files == {"csrc/core/messaging_server.cpp"}
    functions = {f.project_frame.function for f in counted if f.project_frame}
    functions |= {f.related[0].project_frame.function for f in counted if f.related[0].project_frame}
    assert (
        "netcore::messaging_server::on_frames(unsigned long, unsigned long)" in functions
    )  # the reactor's write
    assert "netcore::messaging_server::stats() const" in functions  # the caller's read


def test_lost_previous_stack_marks_the_finding_truncated() -> None:
    # The same mutant with history_size=0: the stats() race's earlier write fell out of TSan's history.
    findings = capture("mutant_counter_history0")
    lost = [f for f in findings if f.truncated]
    assert len(lost) == 1
    (race,) = lost
    assert "[failed to restore the stack]" in log_text("mutant_counter_history0")
    assert race.related[0].label.startswith("Previous write") and race.related[0].stack == ()
    assert race.related[0].project_frame is None
    assert race.counts and race.project_frame is not None  # the current access still names the project
    assert race.project_frame.function == "netcore::messaging_server::stats() const"


def test_the_clean_core_reports_nothing() -> None:
    for name in ("core_suites", "scenario_connections", "scenario_messages", "scenario_stability"):
        assert capture(name) == (), name


def test_the_suppression_entry_matches_its_evidence() -> None:
    entries = [
        line.strip()
        for line in (Path(__file__).resolve().parents[2] / "pyharness" / "suppressions" / "tsan.supp")
        .read_text()
        .splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert entries == ["race:_dl_deallocate_tls"]
    pattern = entries[0].split(":", 1)[1]
    unsuppressed = capture("dtls_reuse_unsuppressed")
    assert unsuppressed and all(f.kind == "data-race" for f in unsuppressed)
    for race in unsuppressed:  # each report has glibc's TLS teardown in one of its access stacks
        stacks = (race.stack, *(t.stack for t in race.related))
        assert any(pattern in frame.function for stack in stacks for frame in stack)
    # With the entry: no report, and the runtime says what it matched.
    assert capture("dtls_reuse") == ()
    assert f"race:{pattern}" in log_text("dtls_reuse")


def test_project_frame_falls_back_to_the_other_access() -> None:
    # The race as seen from a thread whose stack has no project frame (the interpreter's).
    (race,) = tsan.make_parser().parse(CAPTURES / "race").findings
    from dataclasses import replace  # noqa: PLC0415

    foreign = replace(race, stack=race.stack[-1:])
    attributed = attribute(foreign)
    assert attributed.project_frame is not None and attributed.project_frame.file == CANARY_SOURCE
    assert attributed.project_frame == attributed.related[0].project_frame


def test_stderr_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "subject.stderr").write_text("some warning\n" + log_text("thread_leak"))
    assert [f.kind for f in tsan.make_parser().parse(tmp_path).findings] == ["thread-leak"]


def test_lines_outside_reports_are_ignored() -> None:
    assert (
        tsan.parse_text("ThreadSanitizer: reported 3 warnings\n==================\nnot a report\n").findings
        == ()
    )


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("FATAL: ThreadSanitizer: unexpected memory mapping 0x5555-0x5556", "setarch"),
        (
            "==21099==ThreadSanitizer: starting new threads after multi-threaded fork is not supported. "
            "Dying (set die_after_fork=0 to override)",
            "spawn start method",
        ),
        (
            "ImportError: /lib/x86_64-linux-gnu/libtsan.so.2: cannot allocate memory in static TLS block",
            "not preloaded",
        ),
    ],
)
def test_runtime_failures_are_errors_not_silence(line: str, hint: str) -> None:
    with pytest.raises(ParseError, match=hint):
        tsan.parse_text(f"first line\n{line}\n", "tsan.1")


def test_fork_after_threads_capture_is_an_error() -> None:
    # Measured: the parent exits 0 while its child dies; only the log says the run was not watched.
    with pytest.raises(ParseError, match="multi-threaded fork"):
        tsan.make_parser().parse(CAPTURES / "fork_after_threads")


@pytest.mark.parametrize(
    ("line", "function", "file", "line_no", "module"),
    [
        (
            "    #0 canaries::race_worker(long) ../../csrc/canaries/canaries_module.cpp:99 "
            "(_canaries.cpython-311-x86_64-linux-gnu.so+0x797a)",
            "canaries::race_worker(long)",
            "../../csrc/canaries/canaries_module.cpp",
            99,
            "_canaries.cpython-311-x86_64-linux-gnu.so",
        ),
        ("    #6 <null> <null> (libstdc++.so.6+0xd44a2)", "??", None, None, "libstdc++.so.6"),
        (
            "    #1 std::thread::_M_start_thread(std::unique_ptr<std::thread::_State, "
            "std::default_delete<std::thread::_State> >, void (*)()) <null> (libstdc++.so.6+0xd4578)",
            "std::thread::_M_start_thread(std::unique_ptr<std::thread::_State, "
            "std::default_delete<std::thread::_State> >, void (*)())",
            None,
            None,
            "libstdc++.so.6",
        ),
        ("    #3 f(int) /src/x.cpp:12:7 (a.out+0x10)", "f(int)", "/src/x.cpp", 12, "a.out"),
        ("    #2 main /src/x.cpp:5 (a.out+0x10) (BuildId: 0123abcd)", "main", "/src/x.cpp", 5, "a.out"),
    ],
)
def test_frame_lines(
    line: str, function: str, file: str | None, line_no: int | None, module: str | None
) -> None:
    frame = tsan.parse_frame(line)
    assert frame is not None
    assert (frame.function, frame.file, frame.line, frame.object) == (function, file, line_no, module)


@pytest.mark.parametrize(
    ("what", "kind"),
    [
        ("data race", "data-race"),
        ("lock-order-inversion (potential deadlock)", "lock-order-inversion"),
        ("thread leak", "thread-leak"),
        ("signal-unsafe call inside of a signal", "signal-unsafe-call"),
        ("destroy of a locked mutex", "destroy-of-a-locked-mutex"),
        ("data race on vptr (ctor/dtor vs virtual call)", "data-race-on-vptr"),
    ],
)
def test_kinds(what: str, kind: str) -> None:
    assert tsan._kind(what) == kind
