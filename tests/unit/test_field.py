"""The field trial's definitions, its results file and the FIELD.md it renders, without running it.

Running it (``nox -s field``) downloads five sdists and takes most of an hour;
these check what it reads and writes: every committed definition is valid and
within the table budget, a bad one is refused naming its key, results survive
JSON, and every counted finding in the committed results is investigated.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import field
from pyharness.errors import ConfigError
from pyharness.model.field import FieldResults, PlantResult, ProjectResult, ToolResult, merged
from pyharness.render.field import render, unexplained

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT / "field"
RESULTS = ROOT / "docs" / "field-results.json"
DOC = ROOT / "docs" / "FIELD.md"
SHA = "0" * 64


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_committed_definition_reads_and_stays_within_three_lines() -> None:
    defs = field.definitions(FIELD)
    assert len(defs) == 5, [d.name for d in defs]
    kinds = " / ".join(d.kind for d in defs)
    for wanted in ("flat", "src", "meson-python", "Cython", "scikit-build-core"):
        assert wanted in kinds, f"no field project of kind {wanted!r}: {kinds}"
    for d in defs:
        assert d.table_lines <= field.MAX_TABLE_LINES
        assert d.plant is not None and d.plant.is_file(), f"{d.name} plants nothing"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[field]\nname = 'x'\n", "version must be a non-empty string"),
        ("[field]\nname='x'\nversion='1'\nsha256='abc'\nkind='k'\n", "sha256 is not 64 hex digits"),
        (
            f"[field]\nname='x'\nversion='1'\nsha256='{SHA}'\nkind='k'\ntools=['nope']\n",
            "unknown tool 'nope'",
        ),
        (
            f"[field]\nname='x'\nversion='1'\nsha256='{SHA}'\nkind='k'\n"
            "[tool.pyharness]\na=1\nb=2\nc=3\nd=4\n",
            "a field project gets 3",
        ),
        (
            f"[field]\nname='x'\nversion='1'\nsha256='{SHA}'\nkind='k'\n"
            "[[finding]]\nkey='k'\nverdict='maybe'\nevidence='e'\n",
            "verdict must be 'defect' or 'false positive'",
        ),
        ("[field\n", "cannot read it as TOML"),
    ],
)
def test_a_bad_definition_is_refused_naming_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        field.read(_write(tmp_path, text))


def test_an_unknown_name_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="no field definition for nosuch"):
        field.definitions(FIELD, ["nosuch"])


def _results() -> FieldResults:
    tool = ToolResult(
        tool="asan", build_s=3.0, cell_s=2.0, status="fail", reason="1 finding", tests=80, failed=0,
        counted=("asan/leak.direct pkg/_ext.c grow",), counted_where=("pkg/_ext.c:12",), foreign=2, skipped=1,
    )  # fmt: skip
    plant = PlantResult("asan", "pkg/_ext.c:40", True, ("pkg/_ext.c:40",), "fail", "1 finding")
    ok = ProjectResult("pkg", "1.0", "setuptools, flat layout", SHA, 0, "", (tool,), (plant,))
    broken = ProjectResult(
        "other", "2.0", "CMake", SHA, 0, "", problem="build asan failed | exit 1\nline two"
    )
    return FieldResults("2026-12-02T00:00:00Z", 600.0, (ok, broken))


def test_results_survive_json_and_render_every_row() -> None:
    results = _results()
    again = FieldResults.from_json(json.loads(json.dumps(results.to_json())))
    assert again == results
    out = io.StringIO()
    render(again, [], out)
    text = out.getvalue()
    assert (
        "| pkg 1.0 | setuptools, flat layout | asan | 3 s | 2 s | 79 / 0 (1 skipped) | 1 | 2 | fail |" in text
    )
    assert "**unexplained**" in text, "a counted finding no definition investigates must say so"
    # A multi-line problem stays out of the table: one escaped line there, all of it below.
    row = next(line for line in text.splitlines() if line.startswith("| other 2.0"))
    assert row.count("|") - row.count("\\|") == 10 and "line two" not in row
    assert "## Projects that did not run" in text and "line two" in text


def test_unexplained_lists_counted_findings_without_an_investigation(tmp_path: Path) -> None:
    results = _results()
    path = _write(
        tmp_path,
        f"[field]\nname='pkg'\nversion='1.0'\nsha256='{SHA}'\nkind='k'\n"
        "[[finding]]\nkey='asan/leak.direct pkg/_ext.c grow'\n"
        "verdict='defect'\nevidence='grow() never frees'\n",
    )
    assert unexplained(results, []) == [("pkg", "asan/leak.direct pkg/_ext.c grow")]
    assert unexplained(results, [field.read(path)]) == []


def test_the_committed_field_doc_follows_its_results_and_explains_every_finding() -> None:
    results = FieldResults.from_json(json.loads(RESULTS.read_text(encoding="utf-8")))
    defs = field.definitions(FIELD)
    assert not unexplained(results, defs), "investigate these in field/<project>.toml: [[finding]]"
    assert {p.name for p in results.projects} == {d.name for d in defs}, "a field project did not run"
    assert not [p.name for p in results.projects if p.problem], "a field project did not run to its end"
    missed = [(p.name, x.tool) for p in results.projects for x in p.plant if not x.found]
    assert not missed, f"planted defects not found at their line: {missed}"
    out = io.StringIO()
    render(results, defs, out)
    assert DOC.read_text(encoding="utf-8") == out.getvalue(), (
        "regenerate: python -m pyharness field --from docs/field-results.json --doc docs/FIELD.md"
    )


def test_a_rerun_of_one_project_replaces_only_its_entry() -> None:
    old = _results()
    fixed = replace(old.projects[1], problem=None, seconds=120.0)
    new = FieldResults("2026-12-03T00:00:00Z", 120.0, (fixed,))
    both = merged(replace(old, projects=(replace(old.projects[0], seconds=300.0), old.projects[1])), new)
    assert [p.name for p in both.projects] == ["pkg", "other"]
    assert both.projects[1].problem is None
    assert both.started == old.started and both.seconds == 420.0
