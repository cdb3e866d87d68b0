"""Known findings: accepted with a reason, passing; a new one failing; a fixed one reported as gone.

The findings are the committed real captures' (the leak canary's LSan report),
attributed with this repository's policy, so the fingerprints are the ones a
real run gives.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import known, proc
from pyharness.attribution import Policy
from pyharness.cell import judge
from pyharness.cell.execute import Execution
from pyharness.cell.plan import CellRequest, plan
from pyharness.cli import main
from pyharness.collect import gather
from pyharness.errors import ConfigError
from pyharness.model import CellReport, Finding, Frame, KnownEntry, Summary, Trace
from pyharness.parsers import asan
from pyharness.project import Workload, from_table
from pyharness.render import junit, markdown, sarif
from tests.unit.test_sarif import _errors

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures" / "asan"
ROOT = Path(__file__).resolve().parents[2]
POLICY = Policy(root=ROOT, sources=("csrc",), modules=("_canaries",), namespaces=("canaries::",))
DAY = dt.date(2026, 12, 2)


def leak() -> Finding:
    files = sorted((CAPTURES / "leak").glob("asan.log*"))
    counted = [f for f in POLICY.attribute_all(asan.parse_files(files).findings) if f.counts]
    assert len(counted) == 1, counted
    return counted[0]


def other(finding: Finding) -> Finding:
    """The same kind of defect in another function: a new finding, not the known one."""
    assert finding.project_frame is not None
    return replace(finding, project_frame=replace(finding.project_frame, function="canaries::other()"))


def cell(*findings: Finding, status: str = "fail", tool: str = "asan") -> CellReport:
    return CellReport("asan", tool, "pytest", status, "r", 1.0, findings=findings)  # type: ignore[arg-type]


def decide(project_root: Path, findings: tuple[Finding, ...]) -> judge.Verdict:
    project = from_table(project_root, {})
    workload = Workload("pytest", "suite", command=("python", "-m", "pytest"))
    cell_plan = plan(project, CellRequest("asan", workload, project_root / "run"))
    result = proc.ProcResult(("python",), "asan", 1, 0, None, False, 0.0, 1.0, "", "", (), frozenset({0}))
    execution = Execution(result, (), None, False, cell_plan.limit_s)
    judgement = judge.command_judgement(cell_plan, execution, None)
    return judge.decide(cell_plan, execution, findings, judgement, None)


def test_accept_then_pass_then_a_new_finding_fails_then_the_fixed_one_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "known-findings.toml"
    found = leak()
    assert decide(tmp_path, (found,)).status == "fail"
    # accept: the file is written with the fingerprint, the reason and the date
    updated, added = known.accept(known.load(path), [found], "the canary leaks on purpose", today=DAY)
    known.write(updated)
    text = path.read_text()
    assert 'reason = "the canary leaks on purpose"' in text and 'date = "2026-12-02"' in text
    assert "line" not in text.split("[[finding]]", 1)[1], "no line in a fingerprint"
    (entry,) = added
    assert (entry.key.tool, entry.key.kind, entry.key.file) == ("asan", found.kind, found.project_frame.file)
    # pass: the same finding, now known
    marked = known.load(path).mark([found])
    assert marked[0].known == "the canary leaks on purpose" and marked[0].counts and not marked[0].fails
    verdict = decide(tmp_path, marked)
    assert verdict.status == "pass" and "1 known finding(s), accepted" in verdict.reason
    # a new finding fails, the known one beside it does not hide it
    both = known.load(path).mark([found, other(found)])
    assert [f.fails for f in both] == [False, True]
    assert decide(tmp_path, both).status == "fail"
    # fixed: a judged asan run of the whole matrix that no longer sees it reports it gone
    gone = known.gone(known.load(path), [cell(status="pass")], {"asan": ["pytest"]})
    assert gone == (entry,)


def test_gone_only_from_a_tool_that_ran_its_whole_matrix() -> None:
    entry = KnownEntry(known.FindingKey("asan", "leak.direct", "src/a.c", "f"), "why", "2026-12-02")
    table = known.KnownFindings(Path("k.toml"), (entry,))
    assert known.gone(table, [cell(status="pass", tool="valgrind")], {"asan": ["pytest"]}) == ()
    assert known.gone(table, [cell(status="error")], {"asan": ["pytest"]}) == ()
    assert known.gone(table, [cell(status="pass")], {"asan": ["pytest", "messages"]}) == ()
    assert known.gone(table, [cell(status="pass")], {"asan": ["pytest"]}) == (entry,)


def test_a_known_file_round_trips_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    updated, _ = known.accept(known.load(path), [leak()], 'quotes " and \\ survive', today=DAY)
    known.write(updated)
    assert known.load(path).entries == updated.entries
    with pytest.raises(ConfigError, match="needs a reason"):
        known.accept(updated, [leak()], "  ")
    for bad, words in [
        ("[[finding]]\ntool = 'asan'\n", "kind must be a non-empty string"),
        (
            "[[finding]]\ntool='a'\nkind='k'\nfunction='f'\nreason='r'\ndate='d'\nline=3\n",
            "unknown key 'line'",
        ),
        ("[other]\n", r"only \[\[finding\]\] tables"),
        ("[[finding]\n", "cannot read it as TOML"),
    ]:
        path.write_text(bad)
        with pytest.raises(ConfigError, match=words):
            known.load(path)


def test_accepting_twice_adds_nothing(tmp_path: Path) -> None:
    table, first = known.accept(known.load(tmp_path / "k.toml"), [leak(), leak()], "r", today=DAY)
    again, second = known.accept(table, [leak()], "r", today=DAY)
    assert len(first) == 1 and second == () and again.entries == table.entries


def test_the_accept_command_writes_the_runs_new_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n[tool.pyharness]\nbuild = 'none'\n")
    run = tmp_path / "reports" / "r1" / "asan-asan-pytest"
    run.mkdir(parents=True)
    found = leak()
    (run / "cell.json").write_text(json.dumps(cell(found, other(found)).to_json()))
    args = ["accept", str(run.parent), "--reason", "seen in r1", "--project", str(tmp_path)]
    assert main([*args, "--dry-run"]) == 0
    assert not (tmp_path / "known-findings.toml").exists() and "would accept" in capsys.readouterr().out
    assert main([*args, "--file", "nowhere.c"]) == 0
    assert "nothing to accept" in capsys.readouterr().out
    assert main(args) == 0
    assert len(known.load(tmp_path / "known-findings.toml").entries) == 2


def test_reports_show_known_and_gone_and_sarif_says_their_baseline_state() -> None:
    found = leak()
    accepted = replace(found, known="accepted: on purpose", test="tests/test_c.py::test_leak")
    new = replace(other(found), test="tests/test_c.py::test_other")
    entry = KnownEntry(
        known.FindingKey("asan", "leak.direct", "csrc/gone.cpp", "gone()"), "fixed?", "2026-11-01"
    )
    summary = replace(gather([cell(accepted, new)], root=ROOT), gone=(entry,))
    doc = sarif.document(summary, source_root=ROOT)
    states = {r["ruleId"] + ":" + r["baselineState"]: r for r in doc["runs"][0]["results"]}
    assert set(states) == {"asan/leak.direct:unchanged", "asan/leak.direct:new", "asan/leak.direct:absent"}
    unchanged = states["asan/leak.direct:unchanged"]
    assert unchanged["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "accepted: on purpose"}
    ]
    assert unchanged["properties"]["tests"] == ["tests/test_c.py::test_leak"]
    assert _errors(doc) == []
    md = _text(markdown.render, summary)
    assert "Known findings (accepted, not failing)" in md and "*accepted: on purpose*" in md
    assert "Known findings no longer seen" in md and "gone()" in md
    xml = _text(junit.render, summary)
    assert 'name="tests/test_c.py::test_other"' in xml and "test_other: asan leak.direct" in xml
    assert '<skipped message="asan leak.direct' in xml and "(known: accepted: on purpose)" in xml


def _text(render: Callable[[Summary, io.StringIO], None], summary: Summary) -> str:
    out = io.StringIO()
    render(summary, out)
    return out.getvalue()


def test_via_names_the_stack_that_reached_the_project() -> None:
    interpreter = (Frame("bytes_richcompare", "Objects/bytesobject.c", 1500),)
    freed = (Frame("free"), Frame("rle_release", f"{ROOT}/csrc/canaries/canaries_module.cpp", 60))
    uaf = Finding(
        "asan", "heap-use-after-free", "AddressSanitizer: heap-use-after-free", stack=interpreter,
        related=(Trace("freed by thread T0 here", freed),),
    )  # fmt: skip
    attributed = POLICY.attribute(uaf)
    assert attributed.counts and attributed.via == "freed by thread T0 here"
    assert attributed.project_frame is not None and attributed.project_frame.line == 60
