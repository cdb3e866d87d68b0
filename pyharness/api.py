"""The public API for a project's own code: scenarios, their judges, baseline probes, self-test plans.

A project names its additions in its ``[tool.pyharness]`` table by import path
(``scenario = "mypkg.bench:SCENARIO"``, ``selftest = "mypkg.checks:PLAN"``,
``baseline-probes = ["mypkg.bench:probe"]``); their modules import from here
and nowhere else in pyharness, so the toolkit can change inside without
breaking them. ``examples/echo`` has a complete scenario written against this
module alone; this repository's own subject, ``pyharness.netcore``, imports
only it (a unit test checks both).

**A scenario** (``Scenario``) is a workload written in Python. Its ``run(args,
events)`` does the work in the subject process, under the tool, and reports
through ``events`` (an ``EventLog``: ``phase``, ``checkpoint`` with numbers,
``emit("sample", ...)``, ``emit("result", ...)``; each line flushed, so a crash
loses nothing before it). Its ``judge(evidence)`` runs in the orchestrator with
an ``Evidence`` (the tool, the preset, the events, the RSS samples the
orchestrator took as ``RssSample``, the tool's own metrics) and returns a
``Judgement``: a ``Status``, a reason, ``Metric``\\ s (those named in ``Gated``
are gated by the baselines) and tables for people. ``Size`` gives the
scenario's options and expected native seconds under a slow tool or the sweep
preset. ``least_squares`` and ``theil_sen`` fit a slope robustly (growth per
cycle, bytes per connection). Raise ``SubjectError`` when the subject cannot
do its work, ``ConfigError`` for a bad option: both end the cell as an error
with the message.

**Helper processes** of a scenario start through ``start_helper`` (text pipes,
in the subject's process group, so the cell's time limit and cleanup reach
them); a probe's short commands through ``run_command`` with a ``LaunchSpec``.

**A baseline probe** (``probe(ctx: ProbeContext) -> dict[BaselineKey,
BaselineEntry]``-like callables; see ``ProbeContext``) measures numbers that
no cell measures, for ``pyharness baseline``. ``load_baselines``,
``baseline_path``, ``beyond_tolerance`` read and judge a baselines file;
``BaselineSamples`` derives entries from repeated probes and ``write_baselines`` writes them.

**A self-test plan** (``Plan`` of ``Canary``\\ s) says which deliberate defect
each tool must catch. **A docs generator** may read the matrix (``TOOLS``,
``VARIANTS``), a ``Project`` (``load_project``), its workloads' sizes
(``size_for``, ``expected_seconds``), its mutants (``load_mutants``), a run's
``Summary`` and its native ``Coverage``, and format quantities
(``format_quantity``) and coverage totals (``totals_text``) as every report does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyharness.baselines import (
        BaselineEntry,
        BaselineKey,
        Baselines,
        Direction,
        baseline_path,
        beyond_tolerance,
    )
    from pyharness.baselines import load as load_baselines
    from pyharness.baselines import write as write_baselines
    from pyharness.build import Staged
    from pyharness.build import stage as build_variant
    from pyharness.calibrate import ProbeContext
    from pyharness.calibrate import Samples as BaselineSamples
    from pyharness.cell.plan import expected_seconds, size_for
    from pyharness.errors import ConfigError, HarnessError, SubjectError
    from pyharness.events import Event, EventLog
    from pyharness.matrix import TOOLS, VARIANTS, Gated
    from pyharness.model import Coverage, Metric, Status, Summary, format_quantity
    from pyharness.mutants import load_all as load_mutants
    from pyharness.proc import LaunchSpec, ProcResult, RssSample
    from pyharness.proc import run as run_command
    from pyharness.proc import start_piped as start_helper
    from pyharness.project import Project, Size, Workload
    from pyharness.project import load as load_project
    from pyharness.render import totals_text
    from pyharness.scenario import Evidence, Judgement, Scenario
    from pyharness.scenario import load as load_scenario
    from pyharness.selftest import CANARY_PREFIX, Canary, Plan
    from pyharness.stats import least_squares, theil_sen

# Each name is imported when it is first used (PEP 562): a scenario subject that needs
# Scenario and EventLog does not load the whole toolkit. Importing every module up
# front cost each netcore subject 10 MiB of RSS and 150,000 allocation calls at start-up
# (heaptrack's stability cell: 631,000 -> 782,000), which the matrix's baselines caught.
_LAZY: dict[str, tuple[str, str]] = {
    "BaselineEntry": ("pyharness.baselines", "BaselineEntry"),
    "BaselineKey": ("pyharness.baselines", "BaselineKey"),
    "BaselineSamples": ("pyharness.calibrate", "Samples"),
    "Baselines": ("pyharness.baselines", "Baselines"),
    "CANARY_PREFIX": ("pyharness.selftest", "CANARY_PREFIX"),
    "Canary": ("pyharness.selftest", "Canary"),
    "ConfigError": ("pyharness.errors", "ConfigError"),
    "Coverage": ("pyharness.model", "Coverage"),
    "Direction": ("pyharness.baselines", "Direction"),
    "Event": ("pyharness.events", "Event"),
    "EventLog": ("pyharness.events", "EventLog"),
    "Evidence": ("pyharness.scenario", "Evidence"),
    "Gated": ("pyharness.matrix", "Gated"),
    "HarnessError": ("pyharness.errors", "HarnessError"),
    "Judgement": ("pyharness.scenario", "Judgement"),
    "LaunchSpec": ("pyharness.proc", "LaunchSpec"),
    "Metric": ("pyharness.model", "Metric"),
    "Plan": ("pyharness.selftest", "Plan"),
    "ProbeContext": ("pyharness.calibrate", "ProbeContext"),
    "ProcResult": ("pyharness.proc", "ProcResult"),
    "Project": ("pyharness.project", "Project"),
    "RssSample": ("pyharness.proc", "RssSample"),
    "Scenario": ("pyharness.scenario", "Scenario"),
    "Size": ("pyharness.project", "Size"),
    "Staged": ("pyharness.build", "Staged"),
    "Status": ("pyharness.model", "Status"),
    "SubjectError": ("pyharness.errors", "SubjectError"),
    "Summary": ("pyharness.model", "Summary"),
    "TOOLS": ("pyharness.matrix", "TOOLS"),
    "VARIANTS": ("pyharness.matrix", "VARIANTS"),
    "Workload": ("pyharness.project", "Workload"),
    "baseline_path": ("pyharness.baselines", "baseline_path"),
    "beyond_tolerance": ("pyharness.baselines", "beyond_tolerance"),
    "build_variant": ("pyharness.build", "stage"),
    "expected_seconds": ("pyharness.cell.plan", "expected_seconds"),
    "format_quantity": ("pyharness.model", "format_quantity"),
    "least_squares": ("pyharness.stats", "least_squares"),
    "load_baselines": ("pyharness.baselines", "load"),
    "load_mutants": ("pyharness.mutants", "load_all"),
    "load_project": ("pyharness.project", "load"),
    "load_scenario": ("pyharness.scenario", "load"),
    "run_command": ("pyharness.proc", "run"),
    "size_for": ("pyharness.cell.plan", "size_for"),
    "start_helper": ("pyharness.proc", "start_piped"),
    "theil_sen": ("pyharness.stats", "theil_sen"),
    "totals_text": ("pyharness.render", "totals_text"),
    "write_baselines": ("pyharness.baselines", "write"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pyharness.api' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # the next lookup is a plain one
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CANARY_PREFIX",
    "TOOLS",
    "VARIANTS",
    "BaselineEntry",
    "BaselineKey",
    "BaselineSamples",
    "Baselines",
    "Canary",
    "ConfigError",
    "Coverage",
    "Direction",
    "Event",
    "EventLog",
    "Evidence",
    "Gated",
    "HarnessError",
    "Judgement",
    "LaunchSpec",
    "Metric",
    "Plan",
    "ProbeContext",
    "ProcResult",
    "Project",
    "RssSample",
    "Scenario",
    "Size",
    "Staged",
    "Status",
    "SubjectError",
    "Summary",
    "Workload",
    "baseline_path",
    "beyond_tolerance",
    "build_variant",
    "expected_seconds",
    "format_quantity",
    "least_squares",
    "load_baselines",
    "load_mutants",
    "load_project",
    "load_scenario",
    "run_command",
    "size_for",
    "start_helper",
    "theil_sen",
    "totals_text",
    "write_baselines",
]
