"""The Valgrind memcheck XML parser on real captured output.

The parser reports what memcheck said (and discounts the leak kinds that never
count); the project's policy (``pyharness.attribution``) decides whose a finding is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyharness import project
from pyharness.attribution import Policy
from pyharness.errors import ParseError
from pyharness.model import Finding, ParsedCell
from pyharness.parsers import valgrind

CHECKOUT = Path(__file__).resolve().parents[2]
CAPTURES = CHECKOUT / "tests" / "data" / "captures" / "valgrind"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"
POLICY = Policy.of(project.load(CHECKOUT, search=False))


def parse_capture(name: str) -> ParsedCell:
    return valgrind.parse_files(sorted((CAPTURES / name).glob("*.xml")))


def attributed(name: str) -> tuple[Finding, ...]:
    return POLICY.attribute_all(parse_capture(name).findings)


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
    counted = [f for f in attributed(canary) if f.counts]
    assert [f.kind for f in counted] == [kind]
    frame = counted[0].project_frame
    assert frame is not None
    assert frame.function == function
    assert frame.file == CANARY_SOURCE
    assert frame.line is not None and frame.line > 0
    assert frame.object is not None and "_canaries" in frame.object


@pytest.mark.parametrize("canary", ["leak", "heap_overflow_read", "use_after_free", "uninitialised_branch"])
def test_the_parser_leaves_attribution_to_the_policy(canary: str) -> None:
    findings = parse_capture(canary).findings
    assert findings
    assert all(f.project_frame is None and not f.suppressed for f in findings)
    # memcheck's <dir> is the build directory's "../..": the absolute path as the tool printed it.
    files = [
        fr.file for f in findings for fr in f.stack if fr.file and fr.file.endswith("canaries_module.cpp")
    ]
    assert files and all(f.startswith("/") and "/../../csrc/canaries/" in f for f in files)


def test_leak_bytes_and_blocks() -> None:
    (leak,) = [f for f in attributed("leak") if f.counts]
    assert (leak.bytes, leak.blocks) == (4096, 1)
    assert "definitely lost" in leak.message


def test_invalid_read_message_keeps_the_auxiliary_line() -> None:
    (finding,) = [f for f in attributed("use_after_free") if f.counts]
    assert "Invalid read of size 4" in finding.message
    assert "free" in finding.message  # "Address ... is 8 bytes inside a block of size 32 free'd"


@pytest.mark.parametrize("clean", ["clean", "signed_overflow"])
def test_clean_runs_give_no_project_findings(clean: str) -> None:
    result = parse_capture(clean)
    assert [f for f in POLICY.attribute_all(result.findings) if f.counts] == []
    # The interpreter's noise was there and the suppressions took it.
    assert sum(result.suppressions.values()) > 0


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
    (parsed,) = valgrind.parse_text(text).findings
    assert parsed.kind == "leak.possible"
    assert parsed.suppressed, "memcheck's own discount, before any attribution"
    (finding,) = POLICY.attribute_all((parsed,))
    assert finding.project_frame is not None and finding.project_frame.file == "csrc/core/reactor.cpp"
    assert finding.suppressed and not finding.counts


def test_parse_cell_reads_the_runners_files(tmp_path: Path) -> None:
    (tmp_path / "valgrind.4242.xml").write_bytes((CAPTURES / "leak" / "valgrind.xml").read_bytes())
    parsed = valgrind.make_parser().parse(tmp_path)
    assert [f.kind for f in parsed.findings] == ["leak.definite"]
    assert parsed.metrics == ()
