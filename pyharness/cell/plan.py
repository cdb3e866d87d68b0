"""A cell's plan: everything about it decided once, before anything runs.

``plan(project, request)`` resolves the workload (a command, or a scenario by
import path), its sizes for the tool and preset, the subject's command line,
environment and working directory, the variant, and the time limit. The
limit follows what the workload is expected to take: its expected native
duration at the preset, times the tool's slowdown (``matrix.Tool.slowdown``,
applied here and nowhere else), times ``LIMIT_FACTOR``, plus
``LIMIT_MARGIN_S``; a user's ``--timeout`` replaces it as it is. The
expectation is, first to last: this tool's own last complete run of the very
same subject, a measured native run of it times the slowdown
(``pyharness.cell.durations``; for a command with no estimate of its own never
below the guess), the size's or the table's ``expected``, the scenario's own
estimate, and the toolkit's guess (``DEFAULT_EXPECTED_S``); the plan says
which (``limit_basis``), and the report does. A bad request
(unknown id, options the scenario would reject) is a ``ConfigError`` here,
before anything is built.

A command that runs pytest gets ``--junitxml`` and pyharness's plugin
(``-p _pyharness_pertest``, ``pyharness.pertest``): every test's boundaries
marked for the tool, a journal that outlives a killed run. Under tsan a
workload with ``parallel-threads`` runs each test in that many threads at once
(pytest-run-parallel's ``--parallel-threads``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyharness import build, pertest, proc
from pyharness.cell import durations
from pyharness.errors import ConfigError
from pyharness.interpreter import is_python
from pyharness.matrix import TOOLS, Gated, Tool
from pyharness.model import LimitBasis, Preset, cell_id
from pyharness.project import DEFAULT_EXPECTED_S, Project, Size, Workload
from pyharness.scenario import Scenario, check_options
from pyharness.scenario import load as load_scenario

# A cell ends as an error when it runs past expected x LIMIT_FACTOR + LIMIT_MARGIN_S:
# a hung quick cell is heard of about a minute after it should have ended.
LIMIT_FACTOR = 1.5
LIMIT_MARGIN_S = 60.0
EVENTS_FILE = "events.jsonl"
JUNIT_FILE = "pytest-junit.xml"
TOOLKIT_HOME = str(Path(__file__).resolve().parents[2])  # the folder pyharness is imported from


@dataclass(frozen=True)
class CellRequest:
    """What a caller asks for: one tool on one workload, and how."""

    tool: str
    workload: str | Workload  # an id of the project's, or a workload made on the spot (wrap, canaries)
    run_dir: Path
    variant: str | None = None  # default: the tool's
    preset: str = "quick"  # "quick" or "sweep"
    options: tuple[str, ...] = ()  # the user's own workload options (then the sizes are theirs)
    timeout_s: float | None = None  # the time limit as it is (default: from the expected duration)
    cell_dir: Path | None = None  # default: <run_dir>/<cell id>
    json_path: Path | None = None  # a second copy of the report
    sample_interval_s: float = proc.DEFAULT_SAMPLE_INTERVAL_S
    build: bool = True  # False: run against the environment as it is (the user built it)
    # False: sized for another purpose (the self-test's small runs): compared with no baseline.
    comparable: bool = True
    per_test: bool = True  # a pytest command gets pyharness's plugin (False: the suite as it is)


@dataclass(frozen=True)
class CellPlan:
    """One cell, fully resolved (see the module docstring)."""

    project: Project
    tool: Tool
    variant: str
    workload: Workload
    scenario: Scenario | None
    preset: Preset
    argv: tuple[str, ...]  # the subject's command line, before the tool wraps it
    env: Mapping[str, str]  # added to the staged build's environment
    cwd: Path
    expected_s: float  # under this tool
    limit_s: float
    cell_dir: Path
    events_path: Path | None  # scenarios only
    junit_path: Path | None  # test suites (pytest) only
    json_path: Path | None
    # Searched by the subject after the staged build: the project's root, where its own
    # scenarios live (a scenario's subject imports it by its import path), and where
    # pyharness itself is (its subject side is ``python -m pyharness scenario``).
    python_path: tuple[str, ...]
    sample_interval_s: float
    build: bool
    gated: tuple[Gated, ...] = field(default=())
    limit_basis: LimitBasis = "default"  # what set limit_s (see the module docstring)
    native_s: float | None = None  # the native duration expected_s came from
    native_key: str = ""  # this subject's entry in the store of measured native durations
    request: CellRequest | None = None  # what was asked, to plan again once a native run is measured
    tests: pertest.TestRun | None = None  # a pytest suite with pyharness's plugin loaded

    @property
    def id(self) -> str:
        return cell_id(self.variant, self.tool.id, self.workload.id)


def expected_seconds(workload: Workload, scenario: Scenario | None, preset: str) -> float:
    """The workload's expected native duration at ``preset`` (the table wins over the scenario)."""
    return estimated(workload, scenario, preset)[0]


def estimated(workload: Workload, scenario: Scenario | None, preset: str) -> tuple[float, LimitBasis]:
    """The expected native duration at ``preset`` and where it comes from (no measurement)."""
    key = "sweep" if preset == "sweep" else "quick"
    if key in workload.expected_s:
        return float(workload.expected_s[key]), "table"
    if scenario is not None and key in scenario.expected_s:
        return float(scenario.expected_s[key]), "scenario"
    return float(DEFAULT_EXPECTED_S[key]), "default"


def store_dir(project: Project) -> Path:
    """Where the measured native durations of ``project`` are kept: beside its build trees."""
    return build.build_root(project)


def size_for(workload: Workload, scenario: Scenario | None, tool: str, preset: str) -> Size:
    """The most specific size the table gives, else the scenario's own default."""
    keys = (f"sweep.{tool}", "sweep") if preset == "sweep" else (tool,)
    for source in (workload.sizes, scenario.sizes if scenario else {}):
        for key in keys:
            if key in source:
                return source[key]
    return Size()


def gated_for(workload: Workload, scenario: Scenario | None, tool: str) -> tuple[Gated, ...]:
    """The workload table's metrics for ``tool``, else the scenario's, else the tool's own."""
    if tool in workload.gated:
        return workload.gated[tool]
    if scenario is not None and tool in scenario.gated:
        return tuple(scenario.gated[tool])
    return TOOLS[tool].gated


def _interpreter(argv: tuple[str, ...], python: str) -> tuple[str, ...]:
    """``python`` in a command means the subject's interpreter (``Project.interpreter``: the
    orchestrator's unless ``--python`` says otherwise), whatever PATH says."""
    if argv and is_python(argv[0]):
        return (python, *argv[1:])
    return argv


def _is_pytest(argv: tuple[str, ...]) -> bool:
    name = Path(argv[0]).name if argv else ""
    if name in ("pytest", "py.test"):
        return True
    return name.startswith("python") and "-m" in argv[1:3] and argv[argv.index("-m") + 1 :][:1] == ("pytest",)


def parallel_options(workload: Workload, tool: str) -> tuple[str, ...]:
    """pytest-run-parallel's options for a workload that asks for threads, under tsan only.

    Tests it marks thread-unsafe run once, in one thread (its default): never
    ``--skip-thread-unsafe=False``, which pytest-run-parallel reads as true (measured).
    """
    if tool != "tsan" or workload.parallel_threads is None:
        return ()
    return (f"--parallel-threads={workload.parallel_threads}",)


@dataclass(frozen=True)
class _Subject:
    """The subject's command line, where it runs, and the files it writes for the cell."""

    argv: tuple[str, ...]
    cwd: Path
    events_path: Path | None = None
    junit_path: Path | None = None
    tests: pertest.TestRun | None = None


def _scenario_subject(
    project: Project, workload: Workload, *, scenario: Scenario, size: Size, req: CellRequest, cell_dir: Path
) -> _Subject:
    assert workload.scenario is not None
    # Explicit options replace the tool's sizes (they size the workload themselves).
    options = (*(["--sweep"] if req.preset == "sweep" else []), *workload.args, *(req.options or size.args))
    check_options(scenario, workload.scenario, options)
    events_path = cell_dir / EVENTS_FILE
    # -P: the staged copy on PYTHONPATH wins over a package of the same name in the cwd.
    argv = (
        project.interpreter, "-P", "-m", "pyharness", "scenario", workload.scenario,
        "--events", str(events_path), *options,
    )  # fmt: skip
    return _Subject(argv, cell_dir, events_path=events_path)


def _command_subject(
    project: Project, workload: Workload, *, tool: Tool, size: Size, req: CellRequest, cell_dir: Path
) -> _Subject:
    assert workload.command is not None
    argv = _interpreter((*workload.command, *workload.args, *size.args, *req.options), project.interpreter)
    cwd = (project.root / workload.cwd).resolve()
    if not _is_pytest(argv):
        return _Subject(argv, cwd)
    junit_path = cell_dir / JUNIT_FILE
    argv = (*argv, f"--junitxml={junit_path}")
    if not req.per_test:
        return _Subject(argv, cwd, junit_path=junit_path)
    argv = (*argv, "-p", pertest.PLUGIN, *parallel_options(workload, tool.id))
    return _Subject(argv, cwd, junit_path=junit_path, tests=pertest.TestRun(cell_dir / pertest.DIR))


def _limit(req: CellRequest, expected: float, basis: LimitBasis) -> tuple[float, LimitBasis]:
    """The time limit and what set it: the user's ``--timeout`` as it is, else from the expectation."""
    if req.timeout_s is not None:
        limit, basis = req.timeout_s, "timeout"
    else:
        limit = expected * LIMIT_FACTOR + LIMIT_MARGIN_S
    if limit <= 0:
        raise ConfigError(f"the time limit must be positive, got {limit:g} s")
    return limit, basis


def plan(project: Project, req: CellRequest) -> CellPlan:
    """Resolve ``req`` against ``project`` (ConfigError for a bad request)."""
    if req.tool not in TOOLS:
        raise ConfigError(f"unknown tool {req.tool!r}; choose from {', '.join(TOOLS)}")
    tool = TOOLS[req.tool]
    workload = req.workload if isinstance(req.workload, Workload) else project.workload(req.workload)
    variant = req.variant or tool.variant
    project.variant(variant)  # ConfigError for an unknown one
    if req.preset not in ("quick", "sweep"):
        raise ConfigError(f"unknown preset {req.preset!r}; choose quick or sweep")
    scenario = load_scenario(workload.scenario, project.root) if workload.scenario else None
    preset: Preset = "custom" if req.options or not req.comparable else req.preset  # type: ignore[assignment]
    size = size_for(workload, scenario, tool.id, req.preset)
    cell_dir = (req.cell_dir or req.run_dir / cell_id(variant, tool.id, workload.id)).resolve()
    env = {**workload.env, **size.env}
    subject = (
        _scenario_subject(project, workload, scenario=scenario, size=size, req=req, cell_dir=cell_dir)
        if scenario is not None
        else _command_subject(project, workload, tool=tool, size=size, req=req, cell_dir=cell_dir)
    )
    native_key = durations.key(
        workload.id, preset, argv=subject.argv, env=env, cwd=subject.cwd, cell_dir=cell_dir
    )
    expected, native_s, basis = _expectation(
        project, tool, native_key=native_key, workload=workload, scenario=scenario, size=size, req=req
    )
    limit, basis = _limit(req, expected, basis)
    return CellPlan(
        project=project,
        tool=tool,
        variant=variant,
        workload=workload,
        scenario=scenario,
        preset=preset,
        argv=subject.argv,
        env=env,
        cwd=subject.cwd,
        expected_s=expected,
        limit_s=limit,
        cell_dir=cell_dir,
        events_path=subject.events_path,
        junit_path=subject.junit_path,
        json_path=req.json_path,
        python_path=(str(project.root), TOOLKIT_HOME) if scenario is not None else (),
        sample_interval_s=req.sample_interval_s,
        build=req.build,
        gated=gated_for(workload, scenario, tool.id),
        limit_basis=basis,
        native_s=native_s,
        native_key=native_key,
        request=req,
        tests=subject.tests,
    )


def _expectation(
    project: Project,
    tool: Tool,
    *,
    native_key: str,
    workload: Workload,
    scenario: Scenario | None,
    size: Size,
    req: CellRequest,
) -> tuple[float, float | None, LimitBasis]:
    """(expected seconds under the tool, the native seconds behind it, what they come from).

    This tool's own last complete run of the subject is the best estimate. Else a measured
    native run times the slowdown; for a command with no estimate of its own, never below
    the guess (the slowdowns were measured on compiled workloads: a Python-heavy suite ran
    40x slower under ASan than natively, where asan's factor is 3). Else the size's, the
    table's or the scenario's estimate, or the guess.
    """
    store = store_dir(project)
    if size.expected_s is not None and not req.options:
        estimate: tuple[float, LimitBasis] = (size.expected_s, "table")
    else:
        estimate = estimated(workload, scenario, req.preset)
    own = (
        durations.lookup(store, durations.tool_key(native_key, tool.id))
        if tool.id != durations.NATIVE_TOOL
        else None
    )
    measured = durations.lookup(store, native_key)
    if own is not None:
        return own.seconds, measured.seconds if measured else None, "measured-tool"
    if measured is not None:
        guess = estimate[0] * tool.slowdown if estimate[1] == "default" else 0.0
        if measured.seconds * tool.slowdown >= guess:
            return measured.seconds * tool.slowdown, measured.seconds, "measured"
    return estimate[0] * tool.slowdown, estimate[0], estimate[1]


def replan(cell_plan: CellPlan) -> CellPlan:
    """The plan again, when a native run of its subject was measured since it was made (a matrix
    plans every cell before any runs); otherwise the plan as it is."""
    if cell_plan.request is None or cell_plan.limit_basis == "timeout":
        return cell_plan
    again = plan(cell_plan.project, cell_plan.request)
    return again if again.limit_basis != cell_plan.limit_basis else cell_plan
