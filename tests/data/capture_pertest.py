"""Regenerate the per-test captures the parser tests read: ``python tests/data/capture_pertest.py``.

Runs real cells of a copy of ``examples/rle`` (its planted defects switched on
by ``RLE_PLANT``) through pyharness's own cell stages, with its pytest plugin
loaded as every pytest workload has it, and copies what the plugin and the
tools wrote into ``tests/data/captures/pertest/<tool>-<case>/``: the journal
(``pertest/journal.jsonl``), the per-test report files (``pertest/asan/``,
``pertest/tsan/``), the tools' own logs and the JUnit report, and for a leak a
check found after several tests the narrowing re-run (``narrow/``). Also a
suite of its own whose fourth test sleeps past the cell's time limit (the
journal of a killed run). Nothing here is edited by hand; ``MANIFEST.json``
beside the captures records each cell's status, reason and counted findings
with their tests. memray's captures are megabytes: its attribution by time is
tested on the committed canary capture (tests/unit/test_parsers_pertest.py).

Set ``PYHARNESS_BUILD_ROOT`` to keep the example's variant builds between runs;
name cases (``asan-leak_all rss-timeout``) to capture only those.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyharness import cell  # noqa: E402
from pyharness import project as projects  # noqa: E402
from pyharness.cell.plan import CellRequest  # noqa: E402
from pyharness.model import CellReport  # noqa: E402

OUT = Path(__file__).resolve().parent / "captures" / "pertest"
EXAMPLE = ROOT / "examples" / "rle"
KEPT = ("pytest-junit.xml", "subject.stderr", "valgrind.stderr")
PARALLEL = """
[tool.pyharness.workloads.pytest]
command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
parallel-threads = 4
"""
SLEEPY = """import time


def test_one():
    pass


def test_two():
    pass


def test_fails():
    assert 1 == 2


def test_sleeps_past_the_limit():
    time.sleep(600)


def test_after():
    pass
"""

# case id -> (tool, RLE_PLANT, the copy's extra table, time limit)
CASES: dict[str, tuple[str, str, str, float | None]] = {
    "asan-leak_all": ("asan", "leak_all", "", None),
    "asan-overflow": ("asan", "overflow", "", None),
    "asan-misaligned": ("asan", "misaligned", "", None),
    "valgrind-leak_all": ("valgrind", "leak_all", "", None),
    "tsan-race_parallel": ("tsan", "race", PARALLEL, None),
    "rss-fd": ("rss", "fd", "", None),
}


def _keep(cell_dir: Path, target: Path) -> None:
    for path in sorted(cell_dir.rglob("*")):
        rel = path.relative_to(cell_dir)
        if not path.is_file() or rel.name == cell.CELL_FILE:
            continue
        wanted = (
            rel.parts[0] == "pertest"
            or (len(rel.parts) > 1 and rel.parts[0] == "narrow" and rel.parts[1] in ("pertest",))
            or rel.name in KEPT
            or rel.name.startswith(("asan.", "tsan.", "valgrind."))
            or (rel.parts[0] == "narrow" and rel.name.startswith(("asan.", "tsan.", "valgrind.")))
        )
        if wanted:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / rel)


def _summary(report: CellReport) -> dict[str, object]:
    return {
        "status": report.status,
        "reason": report.reason,
        "tests": report.tests.to_json() if report.tests else None,
        "counted": [
            f"{f.kind} @ {f.project_frame.where() if f.project_frame else '?'} during {f.during}"
            for f in report.findings
            if f.counts
        ],
        "left": [f.message for f in report.findings if f.kind.endswith(("-left-open", "-left-running"))],
    }


def _run(project_dir: Path, tool: str, plant: str, timeout: float | None, work: Path) -> CellReport:
    os.environ["RLE_PLANT"] = plant
    project = projects.load(project_dir, search=False)
    request = CellRequest(tool, "pytest", work, cell_dir=work / tool, timeout_s=timeout)
    return cell.run_cell(project, request)


def main(wanted: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "MANIFEST.json"
    manifest: dict[str, object] = json.loads(path.read_text()) if wanted and path.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="pyharness-pertest-capture-") as tmp:
        scratch = Path(tmp)
        for case, (tool, plant, table, timeout) in CASES.items():
            if wanted and case not in wanted:
                continue
            copy = scratch / case / "rle"
            shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
            if table:
                with (copy / "pyproject.toml").open("a", encoding="utf-8") as f:
                    f.write(table)
            report = _run(copy, tool, plant, timeout, scratch / case / "run")
            target = OUT / case
            shutil.rmtree(target, ignore_errors=True)
            _keep(scratch / case / "run" / tool, target)
            manifest[case] = _summary(report)
            print(f"{case}: {report.status}: {report.reason}")
        if wanted and "rss-timeout" not in wanted:
            path.write_text(json.dumps(manifest, indent=2) + "\n")
            return 0
        sleepy = scratch / "sleepy"
        (sleepy / "tests").mkdir(parents=True)
        (sleepy / "pyproject.toml").write_text(
            '[project]\nname = "sleepy"\nversion = "0"\n\n[tool.pyharness]\nbuild = "none"\n'
        )
        (sleepy / "tests" / "test_sleepy.py").write_text(SLEEPY)
        report = _run(sleepy, "rss", "", 8.0, scratch / "sleepy-run")
        shutil.rmtree(OUT / "rss-timeout", ignore_errors=True)
        _keep(scratch / "sleepy-run" / "rss", OUT / "rss-timeout")
        manifest["rss-timeout"] = _summary(report)
        print(f"rss-timeout: {report.status}: {report.reason}")
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
