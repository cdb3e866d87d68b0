"""The data model (``pyharness.model``): every record survives JSON, and old reports still load."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from pyharness.model import (
    SCHEMA,
    CellReport,
    Finding,
    Frame,
    Mark,
    Metric,
    Omitted,
    SubjectRun,
    TestOutcome,
    Trace,
    cell_id,
    new_run_id,
)

FRAME = Frame("netcore::reactor::run()", "csrc/core/reactor.cpp", 120, "_netcore.so")
OTHER = Frame("netcore::server::stop()", "csrc/core/server.cpp", 88)
RACE = Finding(
    "tsan",
    "data-race",
    "Write of size 8 at 0x7b0400000010 by thread T2",
    bytes=8,
    stack=(Frame("memcpy", object="libc.so.6"), FRAME),
    project_frame=FRAME,
    related=(
        Trace("Previous write of size 8 by thread T1", (OTHER, Frame("start_thread")), OTHER),
        Trace("Location is heap block of size 64 allocated by main thread", (Frame("malloc"),)),
    ),
)
INFORMATIONAL = Finding(
    "memray",
    "allocation-site",
    "12 MiB at the peak",
    12 << 20,
    stack=(FRAME,),
    project_frame=FRAME,
    informational=True,
)
CUT_SHORT = Finding(
    "asan", "leak.direct", "cut", 32, 1, (Frame("malloc"), Frame("PyCFunction_Call")), truncated=True
)
SUBJECT = SubjectRun(
    argv=("python", "-P", "-m", "pyharness", "scenario", "messages"),
    cwd="/work/main/reports/r/asan-asan-messages",
    pid=4242,
    returncode=-9,
    signal=9,
    timed_out=True,
    interrupted=False,
    duration_s=61.25,
    limit_s=60.0,
    expected_s=15.5,
    peak_rss=123 << 20,
    samples=240,
    sample_interval_s=0.25,
    stderr_tail="Killed\n",
    full_unwind=True,
)
TESTS = TestOutcome(40, 1, 1, 3, ("tests.test_netcore::test_echo", "tests.test_hostile::test_flood"))
CELL = CellReport(
    "asan",
    "asan",
    "messages",
    "fail",
    "1 asan finding(s), first: data-race at csrc/core/reactor.cpp:120",
    62.5,
    metrics=(
        Metric("rss_peak", 123.0 * (1 << 20), "B", 120.0 * (1 << 20), 4.0 * (1 << 20), "pass"),
        Metric("frames_per_s", 1.5e6, "frames/s"),
    ),
    findings=(
        RACE,
        Finding("asan", "leak.direct", "56 bytes", 56, 1, (Frame("_PyObject_Malloc"),), suppressed=True),
        INFORMATIONAL,
        CUT_SHORT,
    ),
    artifacts=("asan.4242", "subject.stderr", "cell.json"),
    preset="sweep",
    subject=SUBJECT,
    series=((0.0, 30 << 20), (0.25, 31 << 20), (0.5, 33 << 20)),
    marks=(Mark(0.25, "100 connections"), Mark(0.5, "1000 connections")),
    omitted=Omitted(count=850, bytes=3 << 20, suppressed=12, foreign=838),
    tests=TESTS,
    cached_from="20261201T110000Z-1234",
    details={"checkpoints": [{"label": "100 connections", "rss": 31 << 20}], "fit": {"slope": 0.5}},
)


def _through_json(doc: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(doc))  # real JSON: tuples become lists
    return loaded


@pytest.mark.parametrize("frame", [FRAME, Frame("??"), Frame("xmalloc", object="/usr/bin/bash")])
def test_frame_round_trips(frame: Frame) -> None:
    assert Frame.from_json(_through_json(frame.to_json())) == frame


def test_trace_round_trips_with_and_without_a_project_frame() -> None:
    for trace in RACE.related:
        assert Trace.from_json(_through_json(trace.to_json())) == trace


def test_finding_round_trips_with_related_traces_and_flags() -> None:
    for finding in CELL.findings:
        assert Finding.from_json(_through_json(finding.to_json())) == finding
    doc = RACE.to_json()
    assert doc["related"][0]["frame"]["file"] == "csrc/core/server.cpp"
    assert doc["related"][1]["frame"] is None


def test_metric_round_trips() -> None:
    for metric in CELL.metrics:
        doc = _through_json(metric.to_json())
        assert Metric.from_json(metric.name, doc) == metric
    assert CELL.metrics[0].to_json()["delta"] == 3.0 * (1 << 20)


def test_subject_run_round_trips() -> None:
    assert SubjectRun.from_json(_through_json(SUBJECT.to_json())) == SUBJECT
    quiet = SubjectRun(("true",), "/", 1, 0, None, False, False, 0.5, 10.0, 1.0, None, 0, None)
    assert SubjectRun.from_json(_through_json(quiet.to_json())) == quiet


def test_test_outcome_round_trips() -> None:
    assert TestOutcome.from_json(_through_json(TESTS.to_json())) == TESTS
    assert TestOutcome.from_json({}) == TestOutcome(0, 0, 0, 0)


def test_cell_report_round_trips_with_every_typed_field() -> None:
    doc = _through_json(CELL.to_json())
    assert CellReport.from_json(doc) == CELL
    assert (doc["schema"], doc["id"]) == (SCHEMA, "asan-asan-messages")
    assert "extra" not in doc
    assert doc["omitted"] == {"count": 850, "bytes": 3 << 20, "suppressed": 12, "foreign": 838}
    assert doc["marks"] == [{"t": 0.25, "label": "100 connections"}, {"t": 0.5, "label": "1000 connections"}]


def test_a_bare_cell_report_round_trips() -> None:
    bare = CellReport("plain", "rss", "connections", "skipped", "rss needs Linux", 0.0)
    doc = _through_json(bare.to_json())
    assert (doc["subject"], doc["tests"], doc["series"], doc["preset"]) == (None, None, [], "quick")
    assert CellReport.from_json(doc) == bare


def _old_style_report() -> dict[str, Any]:
    """A cell report as written before the typed fields (the same schema id)."""
    return {
        "schema": SCHEMA,
        "id": "plain-rss-connections",
        "variant": "plain",
        "tool": "rss",
        "workload": "connections",
        "status": "pass",
        "reason": "ok",
        "duration_s": 12.5,
        "metrics": {"rss_peak": {"value": 1.0, "unit": "B", "baseline": None, "tolerance": None}},
        "findings": [
            {
                "tool": "asan",
                "kind": "leak.direct",
                "message": "Direct leak of 56 byte(s)",
                "bytes": 56,
                "blocks": 1,
                "frame": None,
                "stack": [{"function": "_PyObject_Malloc"}],
                "suppressed": True,
            }
        ],
        "artifacts": ["cell.json"],
        "extra": {
            "sweep": True,
            "scenario_args": [],
            "rss_series": [[0.0, 1], "junk"],
            "findings_omitted": {"count": 3, "bytes": 300, "suppressed": 1, "foreign": 2},
        },
    }


def test_an_old_style_report_still_loads() -> None:
    cell = CellReport.from_json(_old_style_report())
    assert (cell.id, cell.status, cell.duration_s) == ("plain-rss-connections", "pass", 12.5)
    (finding,) = cell.findings
    assert (finding.related, finding.truncated, finding.informational) == ((), False, False)
    assert finding.suppressed and not finding.counts
    assert cell.metrics == (Metric("rss_peak", 1.0, "B"),)
    assert cell.subject is None and cell.tests is None and cell.cached_from is None
    assert (cell.details, cell.marks) == ({}, ())


def test_an_old_style_report_keeps_its_preset_and_what_it_left_out() -> None:
    # Its preset decides what its numbers are compared with: a sweep is not a quick run.
    old = _old_style_report()
    assert CellReport.from_json(old).preset == "sweep"
    old["extra"]["scenario_args"] = ["--connections", "10"]
    assert CellReport.from_json(old).preset == "custom"
    del old["extra"]
    assert CellReport.from_json(old).preset == "quick"
    assert CellReport.from_json(_old_style_report()).omitted == Omitted(3, 300, 1, 2)
    assert CellReport.from_json({**_old_style_report(), "preset": "quick"}).preset == "quick", "new keys win"


@pytest.mark.parametrize(
    ("finding", "counts"),
    [
        (RACE, True),
        (Finding("asan", "leak.direct", "m", project_frame=FRAME, suppressed=True), False),
        (Finding("asan", "leak.direct", "m"), False),
        (Finding("memray", "allocation-site", "m", project_frame=FRAME, informational=True), False),
    ],
)
def test_only_unsuppressed_project_defects_count(finding: Finding, counts: bool) -> None:
    assert finding.counts is counts


def test_ids() -> None:
    assert cell_id("asan", "asan", "messages") == "asan-asan-messages"
    assert cell_id("plain", "rss", "pkg:mod") == "plain-rss-pkg-mod", "a file name: no colons"
    when = datetime(2026, 12, 1, 11, 21, 35, tzinfo=UTC)
    assert new_run_id(when) == f"20261201T112135Z-{os.getpid()}"
    assert sorted([new_run_id(when.replace(hour=9)), new_run_id(when)]) == [
        new_run_id(when.replace(hour=9)),
        new_run_id(when),
    ]
