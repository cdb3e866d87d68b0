"""Native coverage on real gcovr reports: parsing, attribution, merging, the gate, the renderers.

``tests/data/captures/coverage/`` holds what gcovr wrote for two coverage cells
of ``examples/rle`` (``tests/data/capture_coverage.py`` made them): its pytest
suite, which never calls ``count_runs``, and a command that only encodes, which
runs neither ``decode``, ``encode_all`` nor ``count_runs``.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import baselines, calibrate, render
from pyharness import runs as runs_module
from pyharness.attribution import Policy
from pyharness.cell import coverage_metrics
from pyharness.cell.plan import CellRequest, plan
from pyharness.collect import gather
from pyharness.errors import ParseError
from pyharness.matrix import TOOLS
from pyharness.model import CellReport, Coverage, FileCoverage, LineBranches, Summary
from pyharness.model.coverage import merge
from pyharness.netcore import coverage_doc
from pyharness.parsers import coverage as parser
from pyharness.render import html, markdown
from pyharness.runners.base import RunContext
from pyharness.runners.coverage import COUNTERS_DIR, CoverageRunner
from pyharness.runs import runs_alone
from tests.conftest import CHECKOUT, THIS

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures" / "coverage"
EXAMPLE = CHECKOUT / "examples" / "rle"
POLICY = Policy(root=EXAMPLE, sources=("src",))
SOURCE = "src/_rle.c"


def line_of(text: str) -> int:
    lines = (EXAMPLE / SOURCE).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def captured(name: str) -> Coverage:
    parsed = parser.make_parser().parse(CAPTURES / name)
    assert parsed.coverage is not None and parsed.findings == ()
    return POLICY.attribute_coverage(parsed.coverage, f"coverage-coverage-{name}")


def cell(name: str, **overrides: object) -> CellReport:
    coverage = captured(name)
    report = CellReport("coverage", "coverage", name, "pass", "ok", 1.0)
    return replace(report, coverage=coverage, metrics=coverage_metrics(coverage), **overrides)  # type: ignore[arg-type]


# -- parsing -------------------------------------------------------------------


def test_the_pytest_cell_lists_the_function_its_tests_never_call() -> None:
    coverage = captured("rle-pytest")
    (source,) = coverage.files
    assert source.file == SOURCE
    assert [(fn.line, fn.name) for fn in source.functions_missed] == [
        (line_of("count_runs(PyObject"), "count_runs")
    ]
    assert (
        source.functions_total == 7
    )  # planted, encode_runs, encode, encode_all, decode, count_runs, PyInit__rle
    assert 0 < source.lines_covered < source.lines_total
    assert 0 < source.branches_covered < source.branches_total
    # Every line of the function never entered is a line never executed.
    start = line_of("count_runs(PyObject")
    assert set(range(start + 2, start + 12)) & set(source.lines_missed)


def test_the_encode_only_cell_never_ran_decode_and_counts_fewer_lines() -> None:
    encode, suite = captured("rle-encode").files[0], captured("rle-pytest").files[0]
    assert {fn.name for fn in encode.functions_missed} == {"decode", "encode_all", "count_runs"}
    assert encode.lines_total == suite.lines_total and encode.branches_total == suite.branches_total
    assert encode.lines_covered < suite.lines_covered


def test_branches_never_taken_are_on_lines_that_ran() -> None:
    source = captured("rle-pytest").files[0]
    untaken = source.untaken()
    assert untaken and all(b.line not in source.lines_missed for b in untaken)
    # decode's odd-length check ran both ways (the tests reject an odd input): not listed.
    assert line_of("in.len % 2 != 0") not in {b.line for b in untaken}
    # The planted overflow is off in the tests: its branch was never taken.
    assert line_of('planted("overflow")') in {b.line for b in untaken}


def test_metrics_are_the_percentages_and_their_counts() -> None:
    coverage = captured("rle-pytest")
    metrics = {m.name: m for m in coverage_metrics(coverage)}
    t = coverage.totals()
    assert metrics["lines_covered"].value == t.lines_covered and metrics["lines_total"].value == t.lines_total
    assert metrics["lines_covered_percent"].value == pytest.approx(
        100 * t.lines_covered / t.lines_total, abs=1e-3
    )
    assert metrics["branches_covered_percent"].unit == "%"
    assert {g.name for g in TOOLS["coverage"].gated} <= set(metrics)


def test_attribution_keeps_only_the_projects_own_files() -> None:
    raw = Coverage(
        (
            FileCoverage(SOURCE, 10, (3,)),
            FileCoverage("/usr/include/c++/12/bits/move.h", 13),
            FileCoverage(
                ".nox/harness/lib/python3.11/site-packages/pybind11/include/pybind11/pytypes.h", 468
            ),
        )
    )
    assert [f.file for f in POLICY.attribute_coverage(raw).files] == [SOURCE]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"gcovr/format_version": "0.15", "files": [{"file": "a.c", "lines": [', "not JSON"),
        ('{"files": []}', r"format \(none\)"),
        ('{"gcovr/format_version": "1.0", "files": []}', "format 1.0"),
        ('{"gcovr/format_version": "0.15"}', "no 'files' list"),
    ],
)
def test_a_cut_or_foreign_report_is_a_parse_error(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parser.parse_text(text, "coverage.json")


def test_a_missing_report_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="gcovr always writes one"):
        parser.make_parser().parse(tmp_path)


# -- merging -------------------------------------------------------------------


def test_merging_misses_only_what_every_cell_missed() -> None:
    suite, encode = captured("rle-pytest"), captured("rle-encode")
    run = merge([encode, suite])
    assert run is not None
    assert run.cells == ("coverage-coverage-rle-encode", "coverage-coverage-rle-pytest")
    (merged,) = run.files
    assert set(merged.lines_missed) == set(suite.files[0].lines_missed) & set(encode.files[0].lines_missed)
    assert [fn.name for fn in merged.functions_missed] == ["count_runs"]
    assert run.totals().lines_covered >= suite.totals().lines_covered
    assert merge([suite, encode]) == replace(run, cells=tuple(reversed(run.cells)))
    assert merge([]) is None


def test_merging_branches_by_line_and_index() -> None:
    a = Coverage(
        (FileCoverage("x.c", 4, (4,), 6, (LineBranches(2, 2, (0,)), LineBranches(3, 4, (1, 2))), 1),)
    )
    b = Coverage((FileCoverage("x.c", 4, (), 6, (LineBranches(3, 4, (2, 3)),), 1),))
    merged = merge([a, b])
    assert merged is not None
    (f,) = merged.files
    assert f.lines_missed == () and f.branch_lines == (LineBranches(3, 4, (2,)),)
    assert (f.branches_covered, f.branches_total) == (5, 6)


def test_coverage_survives_the_cell_and_summary_json(tmp_path: Path) -> None:
    report = cell("rle-pytest")
    assert CellReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    old = report.to_json()
    del old["coverage"]  # a report written before coverage existed
    assert CellReport.from_json(old).coverage is None
    summary = gather([report, cell("rle-encode")], run_id="r", root=tmp_path)
    assert summary.coverage == merge([c.coverage for c in summary.cells if c.coverage])
    assert Summary.from_json(json.loads(json.dumps(summary.to_json()))).coverage == summary.coverage


# -- the gate ------------------------------------------------------------------


def test_the_gate_fails_a_cell_whose_coverage_dropped() -> None:
    suite = cell("rle-pytest")
    measured = {m.name: m for m in suite.metrics}
    entries = {
        baselines.BaselineKey("coverage", "coverage", "rle", g.name): baselines.derive_entry(
            [measured[g.name].value] * 3, measured[g.name].unit, g.direction
        )
        for g in TOOLS["coverage"].gated
    }
    table = baselines.Baselines("test", entries)
    assert baselines.gate(replace(suite, workload="rle"), table).status == "pass"
    dropped = baselines.gate(replace(cell("rle-encode"), workload="rle"), table)
    assert dropped.status == "fail"
    assert "outside baseline: lines_covered_percent" in dropped.reason
    assert "branches_covered_percent" in dropped.reason
    # More covered than the baseline is no regression: higher is better.
    assert (
        baselines.gate(
            replace(suite, workload="rle"),
            baselines.Baselines("t", {k: replace(e, value=e.value - 5.0) for k, e in entries.items()}),
        ).status
        == "pass"
    )


def test_the_tool_gates_its_percentages_and_its_cells_share_the_machine(tmp_path: Path) -> None:
    p = plan(THIS, CellRequest("coverage", "messages", tmp_path))
    assert {g.name for g in p.gated} == {"lines_covered_percent", "branches_covered_percent"}
    assert all(g.direction == "higher-is-better" for g in p.gated)
    assert p.variant == "coverage" and not runs_alone(p)
    assert runs_alone(plan(THIS, CellRequest("rss", "messages", tmp_path)))


# -- the runner ----------------------------------------------------------------


def test_counters_go_to_the_cell_and_gcovr_works_there(tmp_path: Path) -> None:
    build_dir = tmp_path / "build" / "coverage"
    (build_dir / "meson" / "csrc" / "x.p").mkdir(parents=True)
    (build_dir / "meson" / "csrc" / "x.p" / "x.cpp.gcno").write_bytes(b"notes")
    (build_dir / "stage").mkdir()
    (build_dir / "stage" / "copy.gcno").write_bytes(b"not the build's")
    cell_dir = tmp_path / "cell"
    cell_dir.mkdir()
    ctx = RunContext(cell_dir, 10.0, None, build_dir=build_dir, project_root=tmp_path)
    spec = CoverageRunner().launch(("python", "-c", "pass"), {"PATH": "/usr/bin"}, ctx)
    counters = cell_dir / COUNTERS_DIR
    assert spec.env["GCOV_PREFIX"] == str(counters)
    # <build>/meson/csrc/x.p/x.cpp.gcda, its build tree's folders stripped, lands in the cell.
    assert Path(
        spec.env["GCOV_PREFIX"], *(build_dir / "meson").parts[1 + int(spec.env["GCOV_PREFIX_STRIP"]) :]
    ) == (counters / "meson")
    assert (counters / "meson" / "csrc" / "x.p" / "x.cpp.gcno").read_bytes() == b"notes"
    assert not (counters / "stage").exists()
    (followup,) = CoverageRunner().followups(ctx)
    argv = followup.spec.argv
    assert argv[argv.index("--gcov-object-directory") + 1] == str(counters)
    assert argv[argv.index("--root") + 1] == str(tmp_path)
    assert argv[argv.index("--json") + 1] == str(cell_dir / "coverage.json")


# -- the renderers -------------------------------------------------------------


def summary_of_both(tmp_path: Path) -> Summary:
    return gather([cell("rle-pytest"), cell("rle-encode")], run_id="r", root=tmp_path)


def test_markdown_shows_the_paths_no_tool_saw(tmp_path: Path) -> None:
    out = io.StringIO()
    markdown.render(summary_of_both(tmp_path), out)
    text = out.getvalue()
    assert "### Native coverage" in text and "from 2 cells" in text
    assert "1 functions never executed" in text
    assert f"- `{SOURCE}:{line_of('count_runs(PyObject')}` count_runs" in text
    overflow = line_of('planted("overflow")')
    assert f"`{SOURCE}:{overflow}`" in text
    assert "| src |" in text


def test_html_shows_the_list_with_each_source_line(tmp_path: Path) -> None:
    out = io.StringIO()
    html.render(summary_of_both(tmp_path), out, source_root=EXAMPLE)
    text = out.getvalue()
    assert 'id="coverage"' in text and "count_runs" in text
    assert "<code>if (planted(&quot;overflow&quot;) &amp;&amp; total &gt; 0) {</code>" in text


def test_short_function_names() -> None:
    f = render.short_function
    assert f("netcore::reactor::run(int) const") == "netcore::reactor::run"
    assert f("netcore::(anonymous namespace)::resolve(std::string const&, bool)") == (
        "netcore::(anonymous namespace)::resolve"
    )
    assert f("a::connect(double)::{lambda()#1}::operator()() const") == "a::connect::{lambda()#1}::operator()"
    assert f("std::function<void ()>::call(int)") == "std::function<void ()>::call"
    assert f("count_runs") == "count_runs"


def test_every_path_the_docs_list_as_unexecuted_has_a_reason() -> None:
    doc = json.loads((CHECKOUT / "docs" / coverage_doc.COVERAGE_RESULTS).read_text())
    paths = coverage_doc.unreached(Coverage.from_json(doc["coverage"]), CHECKOUT)
    assert paths, "the kept run lists no unexecuted path of csrc/core"
    missing = [
        f"{f}:{a} {code}" for f, a, _, code, before in paths if (f, code, before) not in coverage_doc.REASONS
    ]
    assert not missing, f"give these a reason in pyharness/netcore/coverage_doc.py: {missing}"


def test_a_focused_baseline_replaces_only_the_cells_it_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pyharness baseline coverage``: the coverage cells' entries are measured afresh, every other
    entry of the file (another tool's, a probe's) is kept as it was."""
    out = tmp_path / "baselines.json"
    old = baselines.derive_entry([1.0, 1.0, 1.0], "%", "higher-is-better")
    kept_key = baselines.BaselineKey("plain", "rss", "messages", "rss_peak")
    stale_key = baselines.BaselineKey("coverage", "coverage", "messages", "lines_covered_percent")
    baselines.write(out, {kept_key: replace(old, unit="B"), stale_key: old}, platform_name="test")
    coverage_plan = plan(THIS, CellRequest("coverage", "messages", tmp_path))

    def plans(project: object, work_dir: Path, run: int, selection: object = None) -> list[object]:
        return [coverage_plan]

    def measure(
        project: object, cell_plans: list[object], samples: calibrate.Samples, run: int, p: bool
    ) -> None:
        samples.add(stale_key, 40.0 + run, "%", "higher-is-better")

    monkeypatch.setattr(calibrate, "baseline_plans", plans)
    monkeypatch.setattr(calibrate, "measure_cells", measure)
    selection = runs_module.parse_selection(THIS, ["coverage"])
    calibrate.calibrate(THIS, 3, out, tmp_path, progress=False, selection=selection)
    entries = baselines.load(out).entries
    assert entries[kept_key].unit == "B" and entries[kept_key].value == 1.0
    assert entries[stale_key].value == 41.0 and entries[stale_key].n_runs == 3
