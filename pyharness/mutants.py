"""The mutation self-test: realistic defects planted in the project's own code, each one caught.

The canaries prove each detector on code written to be caught; the mutants
prove the matrix catches defects in the project itself. A project keeps them as
patches in a folder (``[tool.pyharness] mutants = "mutants"``), one defect per
file: a unified diff (as ``git diff`` writes it) after a few header lines::

    # mutant: server_connection::close() never closes the socket (an fd per connection)
    # expect: rss asan valgrind heaptrack tsan memray
    # workloads: stability connections

``expect`` names the tools that must fail it; ``workloads`` the workloads that
reach the defect (default: the project's matrix). ``pyharness mutants`` copies
the project into a scratch tree per mutant (``<build root>/mutants/<name>/``,
kept between runs so its builds are incremental), applies the patch there,
builds the variants and runs every tool on those workloads. A mutant is
*caught* by a tool when one of its cells fails with a verdict (a finding, or a
workload check); a cell that errs (a timeout, a crash) is no verdict and is a
mismatch. Every expected tool must catch it; other tools catching it too is
reported, not a mismatch. The table (mutant, expected, caught by, where, and
the test each tool's first finding was reported during, when a pytest
workload caught it) is printed, written with ``--json``, and generated into
the docs. ``--merge`` updates only the rows of the mutants run in an existing
results file, and of a row only what the run measured (its tests, where a
tool's finding was): a run of a few tools or workloads fills in a column
without rewriting the rest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from pyharness import build, runs
from pyharness.build import fingerprint
from pyharness.errors import BuildError, ConfigError
from pyharness.matrix import TOOLS
from pyharness.model import CellReport
from pyharness.project import Project
from pyharness.project import load as load_project

HEADER = re.compile(r"^#\s*(?P<key>mutant|expect|workloads):\s*(?P<value>.*)$")
APPLY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Mutant:
    """One planted defect: its patch and what must catch it."""

    name: str  # the patch file's stem
    description: str
    expect: frozenset[str]
    workloads: tuple[str, ...]  # empty: the project's matrix
    patch: Path


def read(path: Path) -> Mutant:
    """A mutant from its patch file (ConfigError for a header it cannot use)."""
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("diff ") or line.startswith("--- "):
            break
        m = HEADER.match(line)
        if m:
            fields[m["key"]] = m["value"].strip()
    if "mutant" not in fields or "expect" not in fields:
        raise ConfigError(f"{path}: a mutant's header needs '# mutant: WHAT' and '# expect: TOOL ...' lines")
    expect = frozenset(fields["expect"].split())
    unknown = sorted(expect - set(TOOLS))
    if unknown or not expect:
        raise ConfigError(
            f"{path}: expect: unknown tool(s) {', '.join(unknown) or '(none given)'}; "
            f"tools: {', '.join(TOOLS)}"
        )
    return Mutant(path.stem, fields["mutant"], expect, tuple(fields.get("workloads", "").split()), path)


def load_all(project: Project) -> list[Mutant]:
    if project.mutants is None:
        raise ConfigError(
            f"{project.name} keeps no mutants: name their folder in [tool.pyharness] mutants = 'mutants'"
        )
    if not project.mutants.is_dir():
        raise ConfigError(f"no mutants folder {project.mutants}")
    found = [read(p) for p in sorted(project.mutants.glob("*.patch"))]
    if not found:
        raise ConfigError(f"no *.patch in {project.mutants}")
    for mutant in found:
        for workload in mutant.workloads:
            project.workload(workload)  # ConfigError for an unknown one
    return found


# -- the scratch tree --------------------------------------------------------------------------------


def sync(project: Project, target: Path) -> None:
    """Make ``target`` a copy of the project's files, touching only files that differ (so a
    mutant's persistent build trees rebuild only what the patch and the project changed)."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = set(fingerprint.project_files(project.root, exclude=[build.build_root(project)]))
    for rel in wanted:
        src, dst = project.root / rel, target / rel
        if not src.is_file():
            continue
        if dst.is_file() and dst.read_bytes() == src.read_bytes():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target).as_posix()
        if rel.split("/", 1)[0] in ("build", "reports"):
            continue
        if path.is_file() and rel not in wanted:
            path.unlink()


def apply(mutant: Mutant, tree: Path) -> None:
    """Apply the mutant's patch in ``tree`` (BuildError when it does not apply: the code moved)."""
    # Outside any repository git apply is a strict patch(1); inside one (a scratch tree under the
    # project's ignored build/) it would silently skip every path outside the current directory.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(tree.parent)}
    before = {p: p.read_bytes() for p in _touched(mutant, tree)}
    try:
        done = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", str(mutant.patch)],
            cwd=tree, env=env, capture_output=True, text=True, timeout=APPLY_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as err:
        raise BuildError(f"cannot apply {mutant.patch.name}: {err}") from err
    if done.returncode != 0:
        raise BuildError(
            f"{mutant.patch.name} does not apply to the project as it is now (regenerate it against the "
            f"current sources): {done.stderr.strip()}"
        )
    unchanged = [str(p.relative_to(tree)) for p, text in before.items() if p.read_bytes() == text]
    if not before or unchanged:
        raise BuildError(f"{mutant.patch.name} changed nothing in {', '.join(unchanged) or tree}")


def _touched(mutant: Mutant, tree: Path) -> list[Path]:
    """The files a patch names (``+++ b/PATH``)."""
    names = re.findall(r"^\+\+\+ b/(\S+)$", mutant.patch.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return [tree / n for n in dict.fromkeys(names)]


# -- running and judging -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One mutant as measured."""

    mutant: Mutant
    caught_by: tuple[str, ...]
    where: dict[str, str]  # tool -> the first finding's file:line, or the failing check
    errors: dict[str, str]  # tool -> why a cell erred (no verdict)
    seconds: float
    problem: str = ""  # the patch did not apply, the build failed...
    tests: dict[str, str] = field(default_factory=dict)  # tool -> the test its first finding was during

    @property
    def missed(self) -> tuple[str, ...]:
        return tuple(sorted(self.mutant.expect - set(self.caught_by)))

    @property
    def ok(self) -> bool:
        return not self.problem and not self.missed and not (set(self.errors) & self.mutant.expect)


def _where(report: CellReport) -> str:
    counted = [f for f in report.findings if f.counts]
    if counted and counted[0].project_frame is not None:
        return f"{counted[0].kind} at {counted[0].project_frame.where()}"
    return report.reason


def _test(report: CellReport) -> str | None:
    """The test the cell's first counted finding was reported during (a pytest workload's)."""
    counted = [f for f in report.findings if f.counts]
    return counted[0].during if counted else None


def judge(mutant: Mutant, reports: Sequence[CellReport], seconds: float) -> Outcome:
    caught: dict[str, str] = {}
    errors: dict[str, str] = {}
    tests: dict[str, str] = {}
    for report in reports:
        if report.status == "fail" and report.tool not in caught:
            caught[report.tool] = f"{report.workload}: {_where(report)}"
            if (test := _test(report)) is not None:
                tests[report.tool] = f"{report.workload}: {test}"
        elif report.status == "error":
            errors.setdefault(report.tool, f"{report.workload}: {report.reason}")
    order = list(TOOLS)
    return Outcome(mutant, tuple(sorted(caught, key=order.index)), caught, errors, seconds, tests=tests)


def run_one(
    project: Project,
    mutant: Mutant,
    tools: Sequence[str],
    work: Path,
    *,
    progress: bool,
    workloads: Sequence[str] = (),
    timeout_s: float | None = None,
) -> Outcome:
    started = time.monotonic()
    reach = mutant.workloads or project.matrix
    chosen = tuple(w for w in reach if w in workloads) if workloads else mutant.workloads
    if workloads and not chosen:
        return Outcome(mutant, (), {}, {}, 0.0, problem=f"reaches none of {', '.join(workloads)}")
    tree = work / mutant.name / "src"
    try:
        sync(project, tree)
        apply(mutant, tree)
        # Compared with no baseline: a mutant is caught by a verdict on its defect, not by a
        # metric that moved (the scratch tree's copy of the baselines is not consulted).
        scratch = replace(
            load_project(tree, search=False), mutants=None, baselines=tree / "build" / "no-baselines"
        )
        plans = runs.matrix_plans(
            scratch,
            runs.Selection(tuple(tools), chosen),
            work / mutant.name / "reports" / "latest-run",
            timeout_s=timeout_s,
        )
        # The scratch tree's builds live in its own build root, kept between runs: incremental.
        summary, _ = runs.run_plans(scratch, plans, plans[0].cell_dir.parent, progress=progress)
    except (BuildError, ConfigError) as err:
        return Outcome(mutant, (), {}, {}, time.monotonic() - started, problem=str(err))
    finally:
        # The next run starts from the project as it is: revert this patch's files.
        if tree.is_dir():
            sync(project, tree)
    return judge(mutant, summary.cells, time.monotonic() - started)


def run(
    project: Project,
    mutants: Sequence[Mutant],
    tools: Sequence[str],
    *,
    progress: bool = True,
    workloads: Sequence[str] = (),
    timeout_s: float | None = None,
) -> list[Outcome]:
    """Each mutant through ``tools`` on the workloads that reach it (``workloads``: only those;
    ``timeout_s``: every cell's time limit, as it is)."""
    work = build.build_root(project) / "mutants"
    return [
        run_one(project, m, tools, work, progress=progress, workloads=workloads, timeout_s=timeout_s)
        for m in mutants
    ]


# -- the table -----------------------------------------------------------------------------------


def to_json(outcomes: Sequence[Outcome], tools: Sequence[str]) -> dict[str, Any]:
    return {
        "schema": "pyharness.mutants/1",
        "tools": list(tools),
        "mutants": [
            {
                "name": o.mutant.name,
                "description": o.mutant.description,
                "expected": sorted(o.mutant.expect, key=list(TOOLS).index),
                "caught_by": list(o.caught_by),
                "where": o.where,
                "tests": o.tests,
                "errors": o.errors,
                "problem": o.problem,
                "seconds": round(o.seconds, 1),
                "ok": o.ok,
            }
            for o in outcomes
        ],
    }


def render(outcomes: Sequence[Outcome], stream: TextIO) -> None:
    width = max((len(o.mutant.name) for o in outcomes), default=6)
    for o in outcomes:
        expected = " ".join(sorted(o.mutant.expect, key=list(TOOLS).index))
        verdict = "ok" if o.ok else "MISMATCH"
        stream.write(
            f"{o.mutant.name:<{width}}  {verdict:<8}  expected: {expected}; "
            f"caught by: {' '.join(o.caught_by) or '-'} ({o.seconds:.0f} s)\n"
        )
        if o.problem:
            stream.write(f"  problem: {o.problem}\n")
        for tool in o.missed:
            why = o.errors.get(tool, "its cells passed")
            stream.write(f"  missed by {tool}: {why}\n")
        for tool, where in o.where.items():
            stream.write(f"  {tool:<10} {where}\n")
            if tool in o.tests:
                stream.write(f"  {'':<10} during {o.tests[tool].split(': ', 1)[-1]}\n")
    good = sum(1 for o in outcomes if o.ok)
    stream.write(f"mutants: {good} of {len(outcomes)} caught by every tool expected to catch them\n")


def merge(doc: dict[str, Any], outcomes: Sequence[Outcome], tools: Sequence[str]) -> dict[str, Any]:
    """``doc`` (a results file) with what ``outcomes`` measured: in the row of each mutant run,
    the tests its tools' findings were reported during and where they were, for the tools
    that caught it; a mutant the file has no row for gets a whole row. Nothing else changes."""
    fresh = to_json(outcomes, tools)["mutants"]
    rows = list(doc.get("mutants", ()))
    index = {row.get("name"): i for i, row in enumerate(rows)}
    for new in fresh:
        if new["name"] not in index or new["problem"]:
            if new["name"] not in index:
                rows.append(new)
            continue
        row = dict(rows[index[new["name"]]])
        where = dict(row.get("where", {}))
        where.update(new["where"])
        order = list(TOOLS)
        found = {**row.get("tests", {}), **new["tests"]}
        tests = {
            t: found[t] for t in sorted(found, key=lambda t: order.index(t) if t in order else len(order))
        }
        merged: dict[str, Any] = {}
        for key, value in row.items():  # the row's own order, "tests" right after "where"
            if key == "tests":
                continue
            merged[key] = where if key == "where" else value
            if key == "where":
                merged["tests"] = tests
        rows[index[new["name"]]] = merged
    return {
        **doc,
        "schema": doc.get("schema", "pyharness.mutants/1"),
        "mutants": sorted(rows, key=lambda r: str(r.get("name"))),
    }


@dataclass(frozen=True)
class Results:
    """A committed results file, for the docs' table."""

    doc: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Results:
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return cls({})
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: not JSON: {err}") from err
