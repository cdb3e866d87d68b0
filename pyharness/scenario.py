"""Scenarios: workloads written in Python, run in the subject and judged in the orchestrator.

A project names a scenario by import path in its table
(``[tool.pyharness.workloads.connections] scenario = "pkg.mod:NAME"``). The
object is a ``Scenario``: options, a ``run(args, events)`` that does the work
in the subject process and reports through the event log
(``pyharness.events``), and a ``judge(evidence)`` that the orchestrator calls
with those events and the RSS samples it took, returning a ``Judgement``
(status, reason, metrics). It also carries its defaults: how long it takes per
preset, smaller sizes under slow tools, and the metrics worth gating; the
project's table may override each.

The subject runs ``python -P -m pyharness scenario pkg.mod:NAME --events FILE
[--sweep] OPTIONS``; ``subject_main`` is that command. Every scenario has
``--events``, ``--sweep`` (the pre-release sizes; explicit options still win)
and the test hook ``--inject-crash``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pyharness.errors import ConfigError, HarnessError
from pyharness.events import Event, EventLog
from pyharness.matrix import Gated
from pyharness.model import Metric, Status
from pyharness.proc import RssSample
from pyharness.project import Size, resolve_entry


@dataclass(frozen=True)
class Evidence:
    """What a scenario's judge sees of one cell."""

    tool: str
    preset: str
    events: Sequence[Event]
    samples: Sequence[RssSample]
    tool_metrics: Sequence[Metric] = ()  # what the tool's parser measured (heaptrack's totals)

    def result(self) -> Event | None:
        """The last ``result`` event, or None when the subject never reported one."""
        results = [e for e in self.events if e.get("event") == "result"]
        return results[-1] if results else None


@dataclass(frozen=True)
class Judgement:
    """A scenario's verdict on its own terms (findings are judged apart, by the cell)."""

    status: Status
    reason: str
    metrics: tuple[Metric, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)  # tables for people, never read by a stage


@dataclass(frozen=True)
class Scenario:
    """One workload written in Python (see the module docstring)."""

    id: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, EventLog], None]
    judge: Callable[[Evidence], Judgement]
    expected_s: Mapping[str, float] = field(default_factory=lambda: {"quick": 30.0, "sweep": 600.0})
    sizes: Mapping[str, Size] = field(default_factory=dict)  # "<tool>", "sweep", "sweep.<tool>"
    gated: Mapping[str, tuple[Gated, ...]] = field(default_factory=dict)
    internal: bool = False  # a helper process of another scenario, not a workload of its own


def load(entry: str, root: Path | None = None) -> Scenario:
    """The ``Scenario`` an import path names (ConfigError when it is something else); ``root``,
    the project's directory, is searched last (``project.resolve_entry``)."""
    obj = resolve_entry(entry, root)
    if not isinstance(obj, Scenario):
        raise ConfigError(f"{entry!r} is a {type(obj).__name__}, not a pyharness.scenario.Scenario")
    return obj


class StrictParser(argparse.ArgumentParser):
    """An ArgumentParser that raises ``argparse.ArgumentError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise argparse.ArgumentError(None, message)


def add_common_options(parser: argparse.ArgumentParser, scenario: Scenario) -> None:
    """The options every scenario has, then its own."""
    parser.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append JSON-lines events (phases, checkpoints, result) to FILE",
    )
    if not scenario.internal:
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="pre-release sizes instead of the quick defaults (explicit options still win)",
        )
        parser.add_argument(
            "--inject-crash",
            action="store_true",
            help="TEST HOOK: abort (SIGABRT) right after the first checkpoint, to prove a crashed subject "
            "becomes an error cell",
        )
    scenario.add_arguments(parser)


def parser_for(scenario: Scenario, entry: str, *, strict: bool = False) -> argparse.ArgumentParser:
    cls = StrictParser if strict else argparse.ArgumentParser
    parser = cls(prog=f"pyharness scenario {entry}", description=scenario.help)
    add_common_options(parser, scenario)
    return parser


def check_options(scenario: Scenario, entry: str, options: Sequence[str]) -> None:
    """ConfigError when the subject would reject ``options`` (checked before anything runs)."""
    try:
        parser_for(scenario, entry, strict=True).parse_args(list(options))
    except argparse.ArgumentError as err:
        raise ConfigError(f"bad option for scenario {scenario.id}: {err}") from err


def subject_main(entry: str, argv: Sequence[str]) -> int:
    """``pyharness scenario ENTRY ...``: run one scenario in this process, report by events."""
    scenario = load(entry)
    args = parser_for(scenario, entry).parse_args(list(argv))
    abort_after = 1 if getattr(args, "inject_crash", False) else 0
    with EventLog(args.events, abort_after_checkpoints=abort_after) as events:
        try:
            if not scenario.internal:
                events.emit("start", scenario=scenario.id, pid=os.getpid(), argv=sys.argv)
            scenario.run(args, events)
        except Exception as err:
            # The orchestrator reads the reason from here; the traceback (if any) goes to stderr.
            reason = str(err) if isinstance(err, HarnessError) else f"{type(err).__name__}: {err}"
            events.emit("error", reason=reason)
            raise
    return 0
