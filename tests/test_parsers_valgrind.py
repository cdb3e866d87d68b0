"""The Valgrind memcheck XML parser on real captured output."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness.errors import ParseError
from pyharness.parsers import valgrind

CAPTURES = Path(__file__).parent / "data" / "captures" / "valgrind"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"


def parse_capture(name: str) -> valgrind.ValgrindResult:
    return valgrind.parse_files(sorted((CAPTURES / name).glob("*.xml")))


@pytest.mark.parametrize(
    ("canary", "kind", "function"),
    [
        ("leak", "leak.definite", "canaries::leak(unsigned long)"),
        ("heap_overflow_read", "invalid-read", "canaries::heap_overflow_read()"),
        ("use_after_free", "invalid-read", "canaries::use_after_free()"),
        ("uninitialised_branch", "uninitialised-condition", "canaries::uninitialised_branch()"),
    ],
)
def test_each_canary_is_found_and_attributed(canary: str, kind: str, function: str) -> None:
    counted = [f for f in parse_capture(canary).findings if f.counts]
    assert [f.kind for f in counted] == [kind]
    frame = counted[0].project_frame
    assert frame is not None
    assert frame.function == function
    assert frame.file == CANARY_SOURCE
    assert frame.line is not None and frame.line > 0
    assert frame.object is not None and "_canaries" in frame.object


def test_leak_bytes_and_blocks() -> None:
    (leak,) = [f for f in parse_capture("leak").findings if f.counts]
    assert (leak.bytes, leak.blocks) == (4096, 1)
    assert "definitely lost" in leak.message


def test_invalid_read_message_keeps_the_auxiliary_line() -> None:
    (finding,) = [f for f in parse_capture("use_after_free").findings if f.counts]
    assert "Invalid read of size 4" in finding.message
    assert "free" in finding.message  # "Address ... is 8 bytes inside a block of size 32 free'd"


@pytest.mark.parametrize("clean", ["clean", "signed_overflow"])
def test_clean_runs_give_no_project_findings(clean: str) -> None:
    result = parse_capture(clean)
    assert [f for f in result.findings if f.counts] == []
    # The interpreter's noise was there and the suppressions took it.
    assert sum(result.suppressed.values()) > 0


def test_truncated_xml_raises() -> None:
    text = (CAPTURES / "leak" / "valgrind.xml").read_text()
    with pytest.raises(ParseError, match="not closed"):
        valgrind.parse_text(text[: len(text) // 2], "cut.xml")


def test_malformed_xml_raises() -> None:
    with pytest.raises(ParseError, match="malformed"):
        valgrind.parse_text("<valgrindoutput><error></valgrindoutput>", "bad.xml")


def test_other_document_raises() -> None:
    with pytest.raises(ParseError, match="not Valgrind XML"):
        valgrind.parse_text("<html></html><!-- </valgrindoutput> -->", "page.xml")


def test_possibly_lost_is_visible_but_does_not_count() -> None:
    text = """<?xml version="1.0"?><valgrindoutput><tool>memcheck</tool>
<error><unique>0x1</unique><tid>1</tid><kind>Leak_PossiblyLost</kind>
<xwhat><text>64 bytes in 1 blocks are possibly lost</text><leakedbytes>64</leakedbytes>
<leakedblocks>1</leakedblocks></xwhat>
<stack><frame><obj>/x/_netcore.cpython-311-x86_64-linux-gnu.so</obj><fn>netcore::reactor::reactor()</fn>
<dir>/w/build/../../csrc/core</dir><file>reactor.cpp</file><line>36</line></frame></stack></error>
</valgrindoutput>"""
    (finding,) = valgrind.parse_text(text).findings
    assert finding.kind == "leak.possible"
    assert finding.project_frame is not None and finding.project_frame.file == "csrc/core/reactor.cpp"
    assert finding.suppressed and not finding.counts
