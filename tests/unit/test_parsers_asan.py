"""The ASan/LSan/UBSan parser on real captured logs (tests/data/capture_tool_outputs.py).

The parser reports what the tool said; whether a finding is the project's is the
policy's call (``pyharness.attribution``), applied here as a cell applies it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import project
from pyharness.attribution import Policy
from pyharness.errors import ParseError
from pyharness.model import Finding, Frame
from pyharness.parsers import asan
from pyharness.runners.asan import MALLOC_CONTEXT_SIZE

CHECKOUT = Path(__file__).resolve().parents[2]
CAPTURES = CHECKOUT / "tests" / "data" / "captures" / "asan"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"
POLICY = Policy.of(project.load(CHECKOUT, search=False))


def source_line(needle: str) -> int:
    """The line of ``needle`` in the canary source: the expectation follows the source."""
    lines = (CHECKOUT / CANARY_SOURCE).read_text().splitlines()
    return next(n for n, text in enumerate(lines, start=1) if needle in text)


def capture_files(name: str) -> list[Path]:
    directory = CAPTURES / name
    files = sorted(p for p in directory.iterdir() if p.suffix == ".log")
    return files + [p for p in directory.iterdir() if p.name == "subject.stderr"]


def parse_capture(name: str) -> tuple[Finding, ...]:
    return asan.parse_files(capture_files(name)).findings


def attributed(name: str) -> tuple[Finding, ...]:
    return POLICY.attribute_all(parse_capture(name))


@pytest.mark.parametrize(
    ("canary", "kind", "function", "needle"),
    [
        ("leak", "leak.direct", "canaries::leak(unsigned long)", "std::malloc(nbytes"),
        ("heap_overflow_read", "heap-buffer-overflow", "canaries::heap_overflow_read()", "view[index]"),
        ("use_after_free", "heap-use-after-free", "canaries::use_after_free()", "dangling[2]"),
        ("signed_overflow", "signed-integer-overflow", "canaries::signed_overflow(int)", "x + big"),
    ],
)
def test_each_canary_is_found_and_attributed(canary: str, kind: str, function: str, needle: str) -> None:
    line = source_line(needle)
    counted = [f for f in attributed(canary) if f.counts]
    assert [f.kind for f in counted] == [kind]
    frame = counted[0].project_frame
    assert frame is not None
    assert (frame.function, frame.file, frame.line) == (function, CANARY_SOURCE, line)


@pytest.mark.parametrize("canary", ["leak", "heap_overflow_read", "use_after_free", "signed_overflow"])
def test_the_parser_leaves_attribution_to_the_policy(canary: str) -> None:
    findings = parse_capture(canary)
    assert findings
    assert all(f.project_frame is None and not f.suppressed for f in findings)
    # As the tool printed it: build-relative, not yet made root-relative.
    assert any(_build_relative(fr.file) for f in findings for fr in f.stack)


def test_leak_carries_bytes_and_blocks() -> None:
    (leak,) = parse_capture("leak")
    assert (leak.bytes, leak.blocks) == (4096, 1)
    assert leak.stack[0].function.startswith("__interceptor_malloc")  # the allocator stays in the stack


def test_access_size_and_message() -> None:
    (finding,) = parse_capture("use_after_free")
    assert finding.bytes == 4
    assert "READ of size 4" in finding.message


def test_ubsan_report_on_stderr_is_joined_with_its_summary_in_the_log() -> None:
    directory = CAPTURES / "signed_overflow"
    assert "runtime error" not in (directory / "asan.log").read_text()  # the split this parser must join
    (finding,) = parse_capture("signed_overflow")
    assert finding.kind == "signed-integer-overflow"
    assert "runtime error: signed integer overflow" in finding.message
    assert finding.stack[0].function == "canaries::signed_overflow(int)"


def test_one_site_reported_twice_gives_two_joined_findings_and_no_orphan(tmp_path: Path) -> None:
    """Per-test logs: the same UB site fires in two tests, each report on stderr, each SUMMARY
    in its own test's log. Both summaries join a report (none becomes a frameless finding)."""
    directory = CAPTURES / "signed_overflow"
    stderr = (directory / "subject.stderr").read_text()
    summary = (directory / "asan.log").read_text()
    (tmp_path / "subject.stderr").write_text(stderr + stderr)
    (tmp_path / "asan.1.log").write_text(summary)
    (tmp_path / "asan.2.log").write_text(summary)
    parsed = asan.parse_files(sorted(tmp_path.iterdir()))
    assert [f.kind for f in parsed.findings] == ["signed-integer-overflow"] * 2
    assert all(f.stack[0].function == "canaries::signed_overflow(int)" for f in parsed.findings)


@pytest.mark.parametrize("clean", ["clean", "uninitialised_branch"])
def test_clean_runs_give_no_project_findings(clean: str) -> None:
    directory = CAPTURES / clean
    assert directory.is_dir()
    assert [f for f in attributed(clean) if f.counts] == []


def test_truncated_report_raises() -> None:
    text = (CAPTURES / "leak" / "asan.log").read_text()
    cut = text[: text.index("SUMMARY:")]
    with pytest.raises(ParseError, match="no SUMMARY"):
        asan.parse_text(cut, "leak.log")


def test_summary_without_report_raises() -> None:
    with pytest.raises(ParseError, match="no report"):
        asan.parse_text("SUMMARY: AddressSanitizer: heap-use-after-free x.cpp:1 in f\n")


def test_foreign_only_leak_is_visible_but_does_not_count() -> None:
    text = """==10068==ERROR: LeakSanitizer: detected memory leaks

Direct leak of 32 byte(s) in 1 object(s) allocated from:
    #0 0x7f2575ab89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x55c2711bdc8d in xmalloc (/usr/bin/bash+0x9ac8d)

SUMMARY: AddressSanitizer: 32 byte(s) leaked in 1 allocation(s).
"""
    (finding,) = POLICY.attribute_all(asan.parse_text(text).findings)
    assert finding.project_frame is None and finding.suppressed and not finding.counts
    assert finding.stack[1].object == "/usr/bin/bash"


# -- stacks cut short by the fast unwinder ---------------------------------------


def _uaf_access_stack() -> tuple[Frame, ...]:
    (finding,) = parse_capture("use_after_free")
    return finding.stack


def test_a_complete_captured_stack_is_not_truncated() -> None:
    stack = _uaf_access_stack()  # unwound from the faulting pc through libpython to _start
    assert stack[-1].function == "_start" and len(stack) < MALLOC_CONTEXT_SIZE
    assert not asan.truncated(stack)
    # A stripped interpreter leaves its _start unsymbolized below libc's entry: still complete.
    stripped = (*stack[:-1], Frame("??", object="/usr/bin/python3.11"))
    assert not asan.truncated(stripped)
    assert not parse_capture("use_after_free")[0].truncated


def test_the_captured_leak_stack_stops_in_libpython_and_is_truncated() -> None:
    (leak,) = parse_capture("leak")
    assert leak.stack[-1].function == "cfunction_vectorcall_O"  # CPython (METH_O), no frame pointers
    assert len(leak.stack) < MALLOC_CONTEXT_SIZE
    assert asan.truncated(leak.stack)
    assert leak.truncated
    # The project frame is still above the cut: the leak counts, and is known to be ours.
    (ours,) = POLICY.attribute_all((leak,))
    assert ours.counts and ours.truncated


def test_a_stack_that_fills_the_context_size_is_not_truncated() -> None:
    deep = tuple(Frame(f"f{i}", "x.cpp", i) for i in range(MALLOC_CONTEXT_SIZE))
    assert not asan.truncated(deep)
    # The slow unwinder drops the runtime's own frames after collecting: 28 of 30 is full.
    assert not asan.truncated(deep[: -asan.UNWIND_SLACK])
    assert asan.truncated(deep[: -asan.UNWIND_SLACK - 1])
    assert not asan.truncated(())


def test_inlined_frames_do_not_count_towards_the_context_size() -> None:
    # ASan numbers each inlined call on a line of its own, all at one return address;
    # malloc_context_size counts addresses. Repeat an inlined pybind11 frame of the capture.
    lines = (CAPTURES / "leak" / "asan.log").read_text().splitlines(keepends=True)
    inlined = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#3 0x"))
    text = "".join([*lines[:inlined], *[lines[inlined]] * MALLOC_CONTEXT_SIZE, *lines[inlined + 1 :]])
    (leak,) = asan.parse_text(text).findings
    assert len(leak.stack) > MALLOC_CONTEXT_SIZE
    assert leak.truncated, "5 return addresses of 30: the unwinder stopped early"


def test_thread_stacks_end_in_start_thread_or_clone() -> None:
    ends = [Frame("start_thread", "./nptl/pthread_create.c", 442), Frame("clone3", None, None, "libc.so.6")]
    for end in ends:
        assert not asan.truncated((Frame("malloc"), Frame("netcore::reactor::run()"), end))
    assert asan.truncated((Frame("malloc"), Frame("netcore::reactor::run()")))


# -- frame lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "function", "file", "line_no", "obj"),
    [
        (
            "    #1 0x7f2a8dca in canaries::leak(unsigned long) ../../csrc/canaries/canaries_module.cpp:36",
            "canaries::leak(unsigned long)",
            "../../csrc/canaries/canaries_module.cpp",
            36,
            None,
        ),
        ("    #3 0x7f in f(int) /src/x.cpp:12:7", "f(int)", "/src/x.cpp", 12, None),
        ("    #1 0x55c2711bdc8d in xmalloc (/usr/bin/bash+0x9ac8d)", "xmalloc", None, None, "/usr/bin/bash"),
        ("    #1 0x560f8cedbbb8  (/usr/bin/tr+0x7bb8)", "??", None, None, "/usr/bin/tr"),
        (
            "    #2 0x7f in __libc_start_main (/lib/libc.so.6+0x271ca) (BuildId: 0123abcd)",
            "__libc_start_main",
            None,
            None,
            "/lib/libc.so.6",
        ),
    ],
)
def test_frame_lines(
    line: str, function: str, file: str | None, line_no: int | None, obj: str | None
) -> None:
    frame = asan.parse_frame(line)
    assert frame is not None
    assert (frame.function, frame.file, frame.line, frame.object) == (function, file, line_no, obj)


def test_a_line_that_is_not_a_frame() -> None:
    assert asan.parse_frame("READ of size 4 at 0x603000052068 thread T0") is None


def test_runtime_check_failure_is_an_error_not_silence() -> None:
    # Seen when libstdc++ was not preloaded: the first C++ exception killed the process.
    text = (
        'AddressSanitizer: CHECK failed: asan_interceptors.cpp:320 "((__interception::real___cxa_throw)) '
        '!= (0)" (0x0, 0x0) (tid=3324)\n'
        "    #0 0x7f8307ac22aa in CheckUnwind ../../../../src/libsanitizer/asan/asan_rtl.cpp:67\n"
    )
    with pytest.raises(ParseError, match=r"runtime itself failed.*preload libstdc"):
        asan.parse_text(text, "asan.3324")


def test_parse_cell_reads_the_runners_files(tmp_path: Path) -> None:
    for path in capture_files("signed_overflow"):
        name = "asan.6620" if path.suffix == ".log" else path.name
        (tmp_path / name).write_bytes(path.read_bytes())
    parsed = asan.make_parser().parse(tmp_path)
    assert [f.kind for f in parsed.findings] == ["signed-integer-overflow"]
    assert parsed.metrics == ()


# -- the full-unwinding re-run's allocation shim ---------------------------------------------------

RLE = Policy.of(project.load(CHECKOUT / "examples" / "rle", search=False))


def test_the_shifted_rerun_names_the_free_at_the_project_line() -> None:
    """The borrowed DECREF of examples/rle: the access is the interpreter's, the free is _rle.c's."""
    (found,) = asan.parse_files([CAPTURES / "free_stack_shifted" / "asan.log"]).findings
    assert found.kind == "heap-use-after-free" and found.bytes == 10
    freed = next(t for t in found.related if t.label == "freed by thread T0 here")
    assert [(f.function, f.line) for f in freed.stack[:3]] == [
        ("__interceptor_free", 52),
        ("Py_DECREF", 538),
        ("encode_all", 119),
    ]
    assert not freed.truncated and not found.truncated
    (attributed,) = RLE.attribute_all([found])
    assert attributed.project_frame is not None
    assert (attributed.project_frame.file, attributed.project_frame.line) == ("src/_rle.c", 119)
    assert attributed.via == "freed by thread T0 here" and attributed.counts


def test_the_shims_frames_are_taken_off_every_stack() -> None:
    text = (CAPTURES / "free_stack_shifted" / "asan.log").read_text()
    assert "asan_shift.c" in text  # the capture has them
    (found,) = asan.parse_text(text).findings
    allocated = next(t for t in found.related if t.label == "previously allocated by thread T0 here")
    assert [f.function for f in allocated.stack[:2]] == ["__interceptor_malloc", "bytes_repeat"]
    frames = [*found.stack, *(f for t in found.related for f in t.stack)]
    assert not any(asan.is_shim_frame(f) for f in frames)


def test_the_first_run_of_the_same_cell_lost_its_free_stack() -> None:
    (found,) = asan.parse_files([CAPTURES / "free_stack_lost" / "asan.log"]).findings
    assert found.truncated and "CHECK failed" in found.related[-1].label
    assert RLE.attribute(found).project_frame is None


def test_a_shifted_leak_has_the_shims_padding_taken_off() -> None:
    (leak,) = asan.parse_files([CAPTURES / "leak_shifted" / "asan.log"]).findings
    assert "348 byte(s)" in (CAPTURES / "leak_shifted" / "asan.log").read_text()
    assert (leak.kind, leak.bytes, leak.blocks) == ("leak.direct", 300, 3)
    assert leak.message == "Direct leak of 300 byte(s) in 3 object(s)"
    assert [f.function for f in leak.stack[:2]] == ["__interceptor_malloc", "main"]
    assert leak.stack[1].line == 44 and not leak.truncated


@pytest.mark.parametrize(
    ("frame", "shim"),
    [
        (Frame("malloc", "/work/x/pyharness/native/asan_shift.c", 166), True),
        (Frame("malloc", object="/root/.cache/pyharness/asan_shift-0123456789abcdef.so"), True),
        (Frame("malloc", "../include/rtld-malloc.h", 56), False),
        (Frame("__interceptor_malloc", "../../../../src/libsanitizer/asan/asan_malloc_linux.cpp", 69), False),
    ],
)
def test_shim_frames(frame: Frame, shim: bool) -> None:
    assert asan.is_shim_frame(frame) is shim


def _build_relative(path: str | None) -> bool:
    """The canary source as the compiler was given it: relative to the build tree (``../../../csrc/...``
    for a staged build under ``build/<project>/<variant>/meson``), not yet made root-relative."""
    return path is not None and path.startswith("../") and path.endswith("/csrc/canaries/canaries_module.cpp")
