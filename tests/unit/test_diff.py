"""``pyharness diff``: two runs' summaries (or a run and a baselines file) in, "is B worse" out."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import baselines, cli, interrupt
from pyharness.baselines import BaselineEntry, BaselineKey
from pyharness.cli import diff as diffcmd
from pyharness.diff import against_baseline, diff
from pyharness.model import CellReport, Finding, Frame, GitFacts, HostFacts, Metric, Preset, Summary
from pyharness.render import rundiff

MIB = 1 << 20
PLATFORM = "linux-x86_64-py311-gcc12"
LEAK_FRAME = Frame(
    "canaries::leak(unsigned long)",
    "csrc/canaries/canaries_module.cpp",
    41,
    "/work/main/build/asan/stage/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so",
)
LEAK = Finding(
    "asan",
    "leak.direct",
    "Direct leak of 4096 byte(s) in 1 object(s)",
    bytes=4096,
    blocks=1,
    stack=(Frame("__interceptor_malloc"), LEAK_FRAME),
    project_frame=LEAK_FRAME,
)
FOREIGN = Finding(
    "asan",
    "leak.direct",
    "Direct leak of 56 byte(s)",
    bytes=56,
    stack=(Frame("_PyObject_Malloc"),),
    suppressed=True,
)


def _summary(run_id: str, *cells: CellReport) -> Summary:
    host = HostFacts("box", "Linux-6", "x86_64", 2, "3.11.7", "gcc12", PLATFORM)
    return Summary(run_id, "2026-01-01T00:00:00+00:00", host, GitFacts("c" * 40, "main", False), cells)


def _asan(*findings: Finding, status: str = "pass", workload: str = "messages") -> CellReport:
    reason = "1 finding in project code" if status == "fail" else "no findings"
    return CellReport("asan", "asan", workload, status, reason, 20.0, findings=findings)  # type: ignore[arg-type]


def _rss(*metrics: Metric, status: str = "pass", preset: Preset = "quick") -> CellReport:
    return CellReport("plain", "rss", "messages", status, "ok", 12.0, metrics=metrics, preset=preset)  # type: ignore[arg-type]


def _peak(value: float, *, gated: bool = True) -> Metric:
    if not gated:
        return Metric("rss_peak", value, "B")
    return Metric("rss_peak", value, "B", 100.0 * MIB, 2.0 * MIB, "pass" if value <= 102 * MIB else "fail")


CLEAN_A = _summary("run-a", _rss(_peak(100 * MIB)), _asan(FOREIGN))
CLEAN_B = _summary("run-b", _rss(_peak(100.5 * MIB)), _asan(FOREIGN))


def _write_run(tmp_path: Path, summary: Summary) -> Path:
    run_dir = tmp_path / summary.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(summary.to_json()), encoding="utf-8")
    return run_dir


@pytest.fixture(autouse=True)
def _no_checkout_baselines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tests run inside a project of their own: the checkout's baselines must not decide a test.

    ``diff`` takes the baselines folder from the project around the current directory.
    The CLI's signal handlers are not installed into the test process.
    """
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "diffed"\n\n[tool.pyharness]\nbuild = "none"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(interrupt, "install", lambda: None)
    return tmp_path / "baselines"


def _cli(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["diff", *map(str, args)])
    return code, capsys.readouterr().out


# -- the CLI: exit codes -------------------------------------------------------


def test_clean_b_against_clean_a_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(_write_run(tmp_path, CLEAN_A), _write_run(tmp_path, CLEAN_B), capsys=capsys)
    assert code == 0
    assert out.startswith("## pyharness diff run-a -> run-b: not worse")
    assert "| plain-rss-messages | rss_peak | 100.00 MiB | 100.50 MiB | +512.00 KiB (+0.5%) |" in out


def test_a_planted_leak_in_b_exits_1_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leaky = _summary("run-b", _rss(_peak(100 * MIB)), _asan(FOREIGN, LEAK, status="fail"))
    code, out = _cli(_write_run(tmp_path, CLEAN_A), _write_run(tmp_path, leaky), capsys=capsys)
    assert code == 1
    assert ": WORSE" in out.splitlines()[0]
    assert (
        "- new finding asan/leak.direct at csrc/canaries/canaries_module.cpp:41 "
        "in canaries::leak(unsigned long) (cell asan-asan-messages)" in out
    )
    assert "| asan-asan-messages | pass | FAIL |" in out
    assert "### New findings (in B, not in A)" in out
    assert "_PyObject_Malloc" not in out, "a foreign finding is never new"


def test_unreadable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _write_run(tmp_path, CLEAN_A)
    not_json = tmp_path / "broken.json"
    not_json.write_text("{ truncated", encoding="utf-8")
    cell_not_summary = tmp_path / "cell.json"
    cell_not_summary.write_text(json.dumps(_asan().to_json()), encoding="utf-8")
    for bad in (tmp_path / "no-such-run", not_json, cell_not_summary):
        assert cli.main(["diff", str(good), str(bad)]) == 2, bad
        assert cli.main(["diff", str(bad), str(good)]) == 2, bad
    assert cli.main(["diff", str(good)]) == 2, "one run and no --against-baseline"
    err = capsys.readouterr().err
    assert "no run report at" in err and "not JSON" in err and "not a pyharness.summary/1" in err


def test_summary_json_paths_work_as_well_as_run_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write_run(tmp_path, CLEAN_A) / "summary.json"
    b = _write_run(tmp_path, CLEAN_B) / "summary.json"
    assert _cli(a, b, capsys=capsys)[0] == 0


def test_json_output_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leaky = _summary("run-b", _rss(_peak(100 * MIB)), _asan(LEAK, status="fail"))
    target = tmp_path / "out" / "diff.json"
    code, out = _cli(
        _write_run(tmp_path, CLEAN_A),
        _write_run(tmp_path, leaky),
        "--format",
        "json",
        "-o",
        target,
        capsys=capsys,
    )
    assert code == 1 and "WORSE" in out
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["schema"] == "pyharness.diff/1" and doc["worse"] is True
    [new] = doc["findings"]["new"]
    assert (new["tool"], new["kind"], new["file"], new["line"], new["function"]) == (
        "asan",
        "leak.direct",
        "csrc/canaries/canaries_module.cpp",
        41,
        "canaries::leak(unsigned long)",
    )
    assert doc["cells"]["changed"] == [
        {
            "cell": "asan-asan-messages",
            "before": "pass",
            "after": "fail",
            "reason": "1 finding in project code",
            "worse": True,
        }
    ]


# -- findings --------------------------------------------------------------------


def test_a_leak_that_moved_line_and_grew_is_the_same_finding() -> None:
    a = _summary("a", _asan(LEAK, status="fail"))
    moved = replace(LEAK, bytes=8192, project_frame=replace(LEAK_FRAME, line=47))
    result = diff(a, _summary("b", _asan(moved, status="fail")))
    assert result.new_findings == () and result.gone_findings == ()
    assert not result.worse


def test_a_fixed_leak_is_gone_and_not_worse() -> None:
    result = diff(_summary("a", _asan(LEAK, LEAK, status="fail")), _summary("b", _asan()))
    [gone] = result.gone_findings
    assert gone.count == 2 and gone.where == "csrc/canaries/canaries_module.cpp:41"
    assert [(c.before, c.after, c.worse) for c in result.status_changes] == [("fail", "pass", False)]
    assert not result.worse
    out = io.StringIO()
    rundiff.render_markdown(result, out)
    assert "### Gone findings (in A, not in B)" in out.getvalue()
    assert (
        "| asan/leak.direct | csrc/canaries/canaries_module.cpp:41 | canaries::leak(unsigned long) | 2 |"
        in (out.getvalue())
    )


def test_the_same_leak_in_another_function_is_new() -> None:
    other = replace(LEAK, project_frame=replace(LEAK_FRAME, function="canaries::leak_twice(unsigned long)"))
    result = diff(_summary("a", _asan(LEAK, status="fail")), _summary("b", _asan(LEAK, other, status="fail")))
    assert [g.key.function for g in result.new_findings] == ["canaries::leak_twice(unsigned long)"]
    assert result.worse


def test_a_leak_moving_to_another_cell_is_not_new() -> None:
    a = _summary("a", _asan(LEAK, status="fail"), _asan(workload="stability"))
    b = _summary("b", _asan(), _asan(LEAK, status="fail", workload="stability"))
    result = diff(a, b)
    assert result.new_findings == ()
    assert [c.worse for c in result.status_changes] == [False, True], "the stability cell went pass -> fail"


# -- cells -----------------------------------------------------------------------


def test_pass_to_error_is_worse_and_error_to_pass_is_not() -> None:
    ok = _summary("a", _asan())
    broken = _summary("b", replace(_asan(), status="error", reason="subject crashed (SIGSEGV)"))
    result = diff(ok, broken)
    assert result.worse
    assert result.reasons() == ("cell asan-asan-messages: pass -> error (subject crashed (SIGSEGV))",)
    assert not diff(broken, ok).worse


def test_cells_in_one_run_only_are_listed_and_a_leak_in_a_new_cell_is_new() -> None:
    a = _summary("a", _asan(), _rss(_peak(100 * MIB)))
    b = _summary("b", _asan(), _asan(LEAK, status="fail", workload="stability"))
    result = diff(a, b)
    assert [c.cell for c in result.only_before] == ["plain-rss-messages"]
    assert [(c.cell, c.status) for c in result.only_after] == [("asan-asan-stability", "fail")]
    assert [g.cells for g in result.new_findings] == [("asan-asan-stability",)]
    assert result.worse
    known = diff(_summary("a", _asan(LEAK, status="fail")), b)
    assert known.new_findings == (), "A reported the same leak in another cell"


def test_a_leak_of_a_cell_b_did_not_run_is_gone_with_a_note() -> None:
    a = _summary("a", _asan(), _asan(LEAK, status="fail", workload="stability"))
    result = diff(a, _summary("b", _asan()))
    assert [g.key.function for g in result.gone_findings] == ["canaries::leak(unsigned long)"]
    assert not result.worse
    assert "asan-asan-stability ran in A only: a finding that only it reported shows as gone" in result.notes
    disjoint = diff(a, _summary("b", _rss(_peak(1.0))))
    assert "the runs have no cell in common: no status or metric was compared" in disjoint.notes


# -- metrics ---------------------------------------------------------------------


def test_a_metric_just_inside_its_tolerance_is_not_worse_and_just_outside_is() -> None:
    a = _summary("a", _rss(_peak(100 * MIB)))
    inside = diff(a, _summary("b", _rss(_peak(102 * MIB))))
    [metric] = inside.metrics
    assert (metric.before, metric.after, metric.tolerance) == (100 * MIB, 102 * MIB, 2 * MIB)
    assert metric.delta == 2 * MIB and metric.relative == pytest.approx(0.02)
    assert not metric.regressed and not inside.worse
    outside = diff(a, _summary("b", _rss(_peak(102 * MIB + 1))))
    assert outside.metrics[0].regressed and outside.worse
    assert outside.reasons()[0].startswith(
        "regressed plain-rss-messages rss_peak: 100.00 MiB -> 102.00 MiB (+2.0%)"
    )
    better = diff(a, _summary("b", _rss(_peak(50 * MIB))))
    assert not better.worse, "lower is better: halving the peak is no regression"


def test_direction_comes_from_the_baselines_table() -> None:
    rate = Metric("frames_per_s", 1.0e6, "frames/s", 1.0e6, 1.0e5, "pass")
    a = _summary("a", _rss(rate))
    faster = _summary("b", _rss(replace(rate, value=2.0e6)))
    slower = _summary("b", _rss(replace(rate, value=0.9e6 - 1)))
    assert diff(a, faster).worse, "without a table, lower is assumed better"
    entry = BaselineEntry(1.0e6, 1.0e5, "frames/s", "higher-is-better", 5, 1.0, "test")
    table = baselines.Baselines(PLATFORM, {BaselineKey("plain", "rss", "messages", "frames_per_s"): entry})
    assert not diff(a, faster, table=table).worse
    judged = diff(a, slower, table=table)
    assert judged.worse and judged.metrics[0].direction == "higher-is-better"
    assert judged.metrics[0].direction_known
    assert not diff(a, _summary("b", _rss(replace(rate, value=0.9e6))), table=table).worse


def test_ungated_metrics_in_both_runs_are_shown_but_not_judged() -> None:
    result = diff(
        _summary("a", _rss(_peak(10 * MIB, gated=False))), _summary("b", _rss(_peak(90 * MIB, gated=False)))
    )
    [metric] = result.metrics
    assert metric.tolerance is None and not metric.regressed and not result.worse
    out = io.StringIO()
    rundiff.render_markdown(result, out)
    assert "not judged" in out.getvalue()


def test_metrics_at_different_presets_are_not_compared() -> None:
    result = diff(
        _summary("a", _rss(_peak(100 * MIB))), _summary("b", _rss(_peak(500 * MIB), preset="sweep"))
    )
    assert result.metrics == ()
    assert any("not the same preset" in note for note in result.notes)
    custom = diff(
        _summary("a", _rss(_peak(100 * MIB), preset="custom")),
        _summary("b", _rss(_peak(500 * MIB), preset="custom")),
    )
    assert custom.metrics == () and not custom.worse, "custom sizes compare with nothing, not even themselves"
    sweeps = diff(
        _summary("a", _rss(_peak(100 * MIB), preset="sweep")),
        _summary("b", _rss(_peak(500 * MIB), preset="sweep")),
    )
    assert [m.regressed for m in sweeps.metrics] == [True]


def test_a_run_written_before_the_typed_fields_keeps_its_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sweep run from before ``CellReport.preset``: its sizes were in "extra".
    old = _summary("run-old", _rss(_peak(500 * MIB, gated=False))).to_json()
    for cell in old["cells"]:
        for key in ("preset", "series", "marks", "omitted", "tests", "subject", "cached_from", "details"):
            del cell[key]
        cell["extra"] = {"sweep": True, "rss_series": [[0.0, 1.0]]}
    run_old = tmp_path / "run-old"
    run_old.mkdir()
    (run_old / "summary.json").write_text(json.dumps(old), encoding="utf-8")
    assert diffcmd.load_summary(run_old).cells[0].preset == "sweep"
    code, out = _cli(run_old, _write_run(tmp_path, _summary("run-b", _rss(_peak(100 * MIB)))), capsys=capsys)
    assert code == 0
    assert "metrics not compared: not the same preset sizes in both runs" in out


def test_an_errored_cells_numbers_are_not_compared() -> None:
    result = diff(
        _summary("a", _rss(_peak(100 * MIB))), _summary("b", _rss(_peak(500 * MIB), status="error"))
    )
    assert result.metrics == ()
    assert result.worse, "pass -> error is worse by itself"


# -- against the baselines -------------------------------------------------------


def _baselines_file(directory: Path, value: float = 100 * MIB, tolerance: float = 2 * MIB) -> Path:
    path = directory / f"{PLATFORM}.json"
    entry = BaselineEntry(value, tolerance, "B", "lower-is-better", 5, 1.0, "test")
    baselines.write(
        path, {BaselineKey("plain", "rss", "messages", "rss_peak"): entry}, platform_name=PLATFORM
    )
    return path


def test_against_baseline_judges_b_by_the_table(tmp_path: Path) -> None:
    table = baselines.load(_baselines_file(tmp_path))
    within = against_baseline(_summary("b", _rss(_peak(101 * MIB, gated=False))), table)
    [metric] = within.metrics
    assert (metric.before, metric.tolerance, metric.regressed) == (100 * MIB, 2 * MIB, False)
    assert not within.worse
    beyond = against_baseline(_summary("b", _rss(_peak(103 * MIB, gated=False))), table)
    assert beyond.worse and beyond.before == f"baselines {PLATFORM}"


def test_against_baseline_cli_with_and_without_a_file(
    tmp_path: Path, _no_checkout_baselines: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_b = _write_run(tmp_path, _summary("run-b", _rss(_peak(103 * MIB, gated=False))))
    explicit = _baselines_file(tmp_path / "mine", tolerance=4 * MIB)
    code, out = _cli(run_b, "--against-baseline", explicit, capsys=capsys)
    assert code == 0 and "within tolerance" in out
    assert cli.main(["diff", str(run_b), "--against-baseline"]) == 2, "no default file for the platform yet"
    _baselines_file(_no_checkout_baselines)  # tolerance 2 MiB: 103 MiB is beyond it
    code, out = _cli(run_b, "--against-baseline", capsys=capsys)
    assert code == 1 and "| plain-rss-messages | rss_peak | 100.00 MiB | 103.00 MiB |" in out
    code, _ = _cli("--against-baseline", run_b, capsys=capsys)
    assert code == 1, "the option does not swallow the run"


def test_the_baselines_folder_is_the_projects(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    run_b = _write_run(tmp_path, _summary("run-b", _rss(_peak(103 * MIB, gated=False))))
    other = tmp_path_factory.mktemp("other-project")
    (other / "pyproject.toml").write_text(
        '[project]\nname = "other"\n\n[tool.pyharness]\nbuild = "none"\nbaselines = "gates"\n',
        encoding="utf-8",
    )
    _baselines_file(other / "gates", tolerance=4 * MIB)
    code, out = _cli(run_b, "--against-baseline", "--project", other, capsys=capsys)
    assert code == 0 and "within tolerance" in out
    # The request carries the folder: compute() reads nothing else.
    req = diffcmd.Request((run_b,), True, None, other / "gates")
    assert not diffcmd.compute(req).worse
    explicit = diffcmd.compute(
        replace(req, baselines_dir=None, baselines_file=other / "gates" / f"{PLATFORM}.json")
    )
    assert explicit.before == f"baselines {PLATFORM}" and [m.tolerance for m in explicit.metrics] == [4 * MIB]


def test_without_a_project_against_baseline_needs_a_file(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_a = _write_run(tmp_path, CLEAN_A)
    run_b = _write_run(tmp_path, CLEAN_B)
    monkeypatch.chdir(tmp_path_factory.mktemp("no-project"))
    assert cli.main(["diff", str(run_b), "--against-baseline"]) == 2
    assert "needs a baselines FILE, or a project" in capsys.readouterr().err
    code, out = _cli(run_a, run_b, capsys=capsys)
    assert code == 0, "run to run needs no project: every metric is taken as lower-is-better"
    assert "(assumed)" in out
    assert cli.main(["diff", str(run_a), str(run_b), "--project", str(tmp_path / "no-such-dir")]) == 2


def test_diff_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["diff", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--against-baseline" in out and "exit codes" in out
