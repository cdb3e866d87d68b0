"""The renderers and the run writer, on hand-built summaries (no tools, no compiled code)."""

from __future__ import annotations

import io
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import render
from pyharness.collect import gather
from pyharness.errors import ConfigError
from pyharness.facts import git_facts
from pyharness.model import (
    CellReport,
    Finding,
    Frame,
    GitFacts,
    HostFacts,
    Mark,
    Metric,
    Omitted,
    Summary,
    TestOutcome,
)
from pyharness.render import html, junit, markdown
from pyharness.render.write import write_run

MIB = 1 << 20
LEAK_FRAME = Frame("netcore::leak_it(int)", "csrc/core/leaky.cpp", 3, "_netcore.so")
SOURCE = "// line 1\nint keep;\nvoid leak_it() { new char[64]; } // <here> & more\nint after;\n"


def _leak(**overrides: object) -> Finding:
    fields: dict[str, object] = {
        "tool": "asan",
        "kind": "leak.definite",
        "message": "Direct leak of 64 byte(s) in 1 object(s)",
        "bytes": 64,
        "blocks": 1,
        "stack": (Frame("operator new[](unsigned long)", None, None, "libasan.so.8"), LEAK_FRAME),
        "project_frame": LEAK_FRAME,
    }
    fields.update(overrides)
    return Finding(**fields)  # type: ignore[arg-type]


def _summary(*cells: CellReport) -> Summary:
    host = HostFacts("box", "Linux-6", "x86_64", 2, "3.11.7", "gcc12", "linux-x86_64-py311-gcc12")
    return Summary(
        "20260101T000000Z", "2026-01-01T00:00:00+00:00", host, GitFacts("a" * 40, "main", True), cells
    )


PASS = CellReport(
    "plain",
    "rss",
    "connections",
    "pass",
    "ok",
    12.5,
    metrics=(
        Metric("peak_rss", 40.0 * MIB, "B", 39.0 * MIB, 2.0 * MIB, "pass"),
        Metric("conns", 1000, "count"),
    ),
    series=((0.0, 30 * MIB), (1.0, 35 * MIB), (2.5, 40 * MIB), (3.0, 38 * MIB)),
    marks=(Mark(1.0, "100 <conns>"), Mark(2.5, "1000")),
)
FAIL = CellReport(
    "asan",
    "asan",
    "messages",
    "fail",
    "1 finding in project code",
    30.0,
    findings=(
        _leak(),
        _leak(suppressed=True),
        _leak(project_frame=None, stack=(Frame("_PyObject_Malloc", None, None, "libpython3.11.so"),)),
    ),
)
ERROR = CellReport("relwithdebinfo", "valgrind", "stability", "error", "timed out after 300 s", 300.0)
SKIPPED = CellReport("relwithdebinfo", "heaptrack", "messages", "skipped", "heaptrack not installed", 0.0)
ALL = _summary(PASS, FAIL, ERROR, SKIPPED)


def _render(render: object, summary: Summary, **kwargs: object) -> str:
    out = io.StringIO()
    render(summary, out, **kwargs)  # type: ignore[operator]
    return out.getvalue()


def test_summary_counts_exit_code_and_json_round_trip() -> None:
    assert ALL.counts() == {"pass": 1, "fail": 1, "error": 1, "skipped": 1}
    assert ALL.exit_code() == 2
    assert _summary(PASS, FAIL, SKIPPED).exit_code() == 1
    assert _summary(PASS, SKIPPED).exit_code() == 0
    assert _summary().exit_code() == 2, "a run that judged nothing is not a pass"
    doc = json.loads(json.dumps(ALL.to_json()))
    assert doc["schema"] == "pyharness.summary/1"
    assert doc["cells"][1]["findings"][0]["frame"]["line"] == 3
    assert Summary.from_json(doc) == ALL


def test_git_facts_tolerate_a_directory_outside_git(tmp_path: Path) -> None:
    assert git_facts(tmp_path) == GitFacts(None, None, None)


def test_gather_names_a_run_as_every_run_is_named(tmp_path: Path) -> None:
    summary = gather([PASS], root=tmp_path)
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{os.getpid()}", summary.run_id), "model.new_run_id's format"
    assert summary.cells == (PASS,) and summary.git == GitFacts()
    assert gather([], run_id="given", root=tmp_path).run_id == "given"


def test_markdown_has_table_metrics_and_finding_location() -> None:
    text = _render(markdown.render, ALL)
    assert text.startswith("## pyharness 20260101T000000Z: ERROR (1 pass, 1 fail, 1 error, 1 skipped)")
    assert "| asan-asan-messages | FAIL | 30.0 s | 1 (+1 suppressed, 1 foreign) |" in text
    assert (
        "| plain-rss-connections | peak_rss | 40.00 MiB | 39.00 MiB | +1.00 MiB (+2.6%) | ±2.00 MiB | pass |"
        in text
    )
    assert "| conns | 1000 count | - | - | - | not gated |" in text
    assert "csrc/core/leaky.cpp:3 in netcore::leak_it(int)" in text
    assert "#0 operator new[](unsigned long) (libasan.so.8)" in text
    assert "Not counted: 1 suppressed, 1 outside project code" in text
    assert "### relwithdebinfo-valgrind-stability: ERROR" in text
    assert "heaptrack-messages: SKIPPED" not in text


def test_junit_counts_and_failure_text() -> None:
    root = ET.fromstring(_render(junit.render, ALL))
    suite = root.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "1",
    }
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases][:2] == [
        ("plain.rss", "connections"),
        ("asan.asan", "messages"),
    ]
    assert cases[1].get("time") == "30.000"
    failures = suite.findall("testcase/failure")
    assert len(failures) == 1
    assert "csrc/core/leaky.cpp:3" in (failures[0].text or "")
    assert len(suite.findall("testcase/error")) == 1
    assert len(suite.findall("testcase/skipped")) == 1


def test_junit_survives_control_characters_in_tool_output() -> None:
    noisy = CellReport(
        "asan", "asan", "w", "fail", "\x1b[1mred\x1b[0m", 1.0, findings=(_leak(message="\x1b[31mx"),)
    )
    root = ET.fromstring(_render(junit.render, _summary(noisy)))
    assert root.find("testsuite/testcase/failure") is not None


def test_html_is_one_file_with_plot_and_escaped_source(tmp_path: Path) -> None:
    (tmp_path / "csrc" / "core").mkdir(parents=True)
    (tmp_path / "csrc" / "core" / "leaky.cpp").write_text(SOURCE)
    (tmp_path.parent / "secret.cpp").write_text("SECRET\n" * 5)
    outside = Frame("f", str(tmp_path.parent / "secret.cpp"), 2)
    probe = _leak(stack=(outside, LEAK_FRAME))
    page = _render(
        html.render,
        _summary(PASS, replace(FAIL, findings=(probe,))),
        source_root=tmp_path,
    )
    assert page.count("<svg") == 1, "one plot: the fail cell has no series"
    assert "RSS (MiB)" in page and "time since the first sample (s)" in page
    assert "100 &lt;conns&gt;" in page and "<conns>" not in page
    assert "// &lt;here&gt; &amp; more" in page
    assert "SECRET" not in page, "files outside source_root are never quoted"
    assert "No RSS series recorded" in page
    assert "src=" not in page and "<script" not in page and "<link" not in page


def test_html_without_source_root_still_renders() -> None:
    page = _render(html.render, ALL)
    assert "leaky.cpp:3" in page and "&lt;here&gt;" not in page


def test_rss_series_is_in_time_order_without_non_finite_points() -> None:
    assert html.rss_series(PASS) == [(0.0, 30 * MIB), (1.0, 35 * MIB), (2.5, 40 * MIB), (3.0, 38 * MIB)]
    # A series read back from JSON may hold NaN (json allows it) and arrive out of order.
    odd = replace(PASS, series=((2.0, 12 * MIB), (float("nan"), 11 * MIB), (1.0, 10 * MIB)))
    assert html.rss_series(odd) == [(1.0, 10 * MIB), (2.0, 12 * MIB)]


def test_long_series_are_thinned_but_keep_their_peak() -> None:
    points = [(float(i), (i % 7) * MIB) for i in range(10_000)]
    points[4321] = (4321.0, 99 * MIB)
    many = CellReport("p", "rss", "w", "pass", "", 1.0, series=tuple(points))
    svg = html.rss_svg(many)
    assert svg.count(",") < 2 * html.MAX_PLOT_POINTS + 50
    assert "peak 99.0 MiB at 4321.00 s" in svg
    assert f"{len(points)} samples" in svg


def test_write_run_is_atomic_and_points_latest(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = write_run(ALL, reports / "run-1")
    assert sorted(p.name for p in first.run_dir.iterdir()) == [
        "findings.sarif",
        "junit.xml",
        "report.html",
        "summary.json",
        "summary.md",
    ]
    assert (reports / "latest").is_symlink()
    assert (reports / "latest").resolve() == first.run_dir.resolve()
    second = write_run(_summary(PASS), reports / "run-2")
    assert (reports / "latest").resolve() == second.run_dir.resolve()
    assert sorted(p.name for p in reports.iterdir()) == ["latest", "run-1", "run-2"], "no temp files left"
    assert json.loads((reports / "latest" / "summary.json").read_text())["cells"][0]["id"] == PASS.id


def test_write_run_leaves_nothing_when_a_renderer_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(html, "render", boom)
    with pytest.raises(RuntimeError):
        write_run(ALL, tmp_path / "run")
    assert list((tmp_path / "run").iterdir()) == []
    assert not (tmp_path / "latest").exists()


def test_plot_on_the_monotonic_clock_draws_checkpoints_from_the_first_sample() -> None:
    t0 = 81234.5  # time.monotonic() of the first sample
    cell = CellReport(
        "plain",
        "rss",
        "messages",
        "pass",
        "ok",
        1.0,
        series=((t0, 10 * MIB), (t0 + 2, 12 * MIB), (t0 + 4, 11 * MIB)),
        marks=(Mark(t0 + 2, "peak"), Mark(t0 - 1, "before the first sample"), Mark(t0 + 9, "after the last")),
    )
    svg = html.rss_svg(cell)
    assert ">peak</text>" in svg
    assert "before the first sample" not in svg and "after the last" not in svg, "marks outside the series"
    assert "81234" not in svg, "the axis counts from the first sample"
    assert ">4</text>" in svg and ">0</text>" in svg


def test_summary_from_json_tolerates_other_host_facts() -> None:
    doc = {
        "schema": "pyharness.summary/1",
        "run_id": "r",
        "host": {"hostname": "h", "system": "Linux", "cpus": 2},
        "git": {},
        "cells": [PASS.to_json()],
    }
    summary = Summary.from_json(doc)
    assert summary.host.hostname == "h" and summary.git.commit is None
    assert ET.fromstring(_render(junit.render, summary)).find("testsuite") is not None
    with pytest.raises(ConfigError):
        Summary.from_json({**doc, "schema": "pyharness.cell/1"})


# -- the typed fields of a cell report ---------------------------------------------

HEAPTRACK = CellReport(
    "relwithdebinfo",
    "heaptrack",
    "messages",
    "pass",
    "no findings in project code",
    40.0,
    findings=(_leak(project_frame=None, stack=(Frame("_PyObject_Malloc", None, None, "libpython3.11.so"),)),),
    omitted=Omitted(count=850, bytes=3 * MIB, suppressed=12, foreign=838),
)
TESTED = CellReport(
    "asan",
    "asan",
    "pytest",
    "fail",
    "2 of 40 tests failed",
    25.0,
    artifacts=("asan.4242", "subject.stderr", "flamegraph.html", "odd #1?.txt", "cell.json"),
    tests=TestOutcome(40, 1, 1, 3, ("tests.test_netcore::test_echo", "tests.test_hostile::test_<flood>")),
)


def test_ignored_counts_the_findings_the_report_left_out() -> None:
    assert render.ignored(HEAPTRACK) == (12, 839)
    assert render.ignored(FAIL) == (1, 1)
    text = _render(markdown.render, _summary(replace(HEAPTRACK, status="fail")))
    assert "| 0 (+12 suppressed, 839 foreign) |" in text
    assert "Not counted: 12 suppressed, 839 outside project code" in text
    failure = ET.fromstring(_render(junit.render, _summary(replace(HEAPTRACK, status="fail"))))
    assert "not counted: 12 suppressed, 839 outside project code" in (
        failure.findtext("testsuite/testcase/failure") or ""
    )


def test_html_says_how_many_uncounted_findings_were_left_out() -> None:
    page = _render(html.render, _summary(HEAPTRACK))
    assert "0 (+12 suppressed, 839 foreign)" in page
    assert "and 850 smaller ones not kept in the report (3,145,728 bytes in all)" in page


def test_html_lists_the_failed_tests_of_a_test_suite_workload() -> None:
    page = _render(html.render, _summary(TESTED))
    assert "Test suite: 40 tests, 1 failed, 1 errors, 3 skipped." in page
    assert "<li class=fail>tests.test_netcore::test_echo</li>" in page
    assert "tests.test_hostile::test_&lt;flood&gt;" in page and "<flood>" not in page
    assert "Test suite:" not in _render(html.render, _summary(PASS)), "no suite, no line"


def test_html_links_the_cells_artifacts_pages_first() -> None:
    page = _render(html.render, _summary(TESTED))
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', page.split("Artifacts: ", 1)[1].split("</p>", 1)[0])
    assert [text for _, text in links] == [
        "flamegraph.html",
        "asan.4242",
        "subject.stderr",
        "odd #1?.txt",
        "cell.json",
    ]
    assert links[0][0] == "asan-asan-pytest/flamegraph.html"
    assert links[3][0] == "asan-asan-pytest/odd%20%231%3F.txt", "a file name is quoted into the URL"
    assert "Artifacts:" not in _render(html.render, _summary(PASS))
