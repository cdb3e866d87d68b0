"""The ASan/LSan/UBSan parser on real captured logs (tests/data/capture_tool_outputs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness.errors import ParseError
from pyharness.parsers import asan

CAPTURES = Path(__file__).parent / "data" / "captures" / "asan"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"


def parse_capture(name: str) -> tuple[asan.Finding, ...]:
    directory = CAPTURES / name
    files = sorted(p for p in directory.iterdir() if p.suffix == ".log")
    files += [p for p in directory.iterdir() if p.name == "subject.stderr"]
    return asan.parse_files(files)


@pytest.mark.parametrize(
    ("canary", "kind", "function"),
    [
        ("leak", "leak.direct", "canaries::leak(unsigned long)"),
        ("heap_overflow_read", "heap-buffer-overflow", "canaries::heap_overflow_read()"),
        ("use_after_free", "heap-use-after-free", "canaries::use_after_free()"),
        ("signed_overflow", "signed-integer-overflow", "canaries::signed_overflow(int)"),
    ],
)
def test_each_canary_is_found_and_attributed(canary: str, kind: str, function: str) -> None:
    counted = [f for f in parse_capture(canary) if f.counts]
    assert [f.kind for f in counted] == [kind]
    frame = counted[0].project_frame
    assert frame is not None
    assert frame.function == function
    assert frame.file == CANARY_SOURCE
    assert frame.line is not None and frame.line > 0


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


@pytest.mark.parametrize("clean", ["clean", "uninitialised_branch"])
def test_clean_runs_give_no_project_findings(clean: str) -> None:
    directory = CAPTURES / clean
    assert directory.is_dir()
    assert [f for f in parse_capture(clean) if f.counts] == []


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
    (finding,) = asan.parse_text(text)
    assert finding.project_frame is None and not finding.counts
    assert finding.stack[1].object == "/usr/bin/bash"


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


def test_runtime_check_failure_is_an_error_not_silence() -> None:
    # Seen when libstdc++ was not preloaded: the first C++ exception killed the process.
    text = (
        'AddressSanitizer: CHECK failed: asan_interceptors.cpp:320 "((__interception::real___cxa_throw)) '
        '!= (0)" (0x0, 0x0) (tid=3324)\n'
        "    #0 0x7f8307ac22aa in CheckUnwind ../../../../src/libsanitizer/asan/asan_rtl.cpp:67\n"
    )
    with pytest.raises(ParseError, match=r"runtime itself failed.*preload libstdc"):
        asan.parse_text(text, "asan.3324")
