"""Which runner wraps the subject, and which parser reads its artifacts, for each tool id.

The ``rss`` tool runs the subject as it is (``NullRunner``: sampling is the
gateway's job). Every other tool's runner lives in its own module,
``pyharness/runners/<tool>.py``, which must define::

    def make_runner() -> Runner: ...

``runner_for`` imports it on demand, so adding a tool is adding that module
(and its row in ``matrix.TOOLS``); nothing here changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS
from pyharness.model import Finding, ParsedCell
from pyharness.parsers.attribution import attribute_all
from pyharness.runners.base import NullRunner, Runner

if TYPE_CHECKING:
    from pyharness.proc import ProcResult  # proc imports runners.base: keep this import type-only


def runner_for(tool_id: str) -> Runner:
    """The runner for ``tool_id`` (ConfigError for an unknown id, HarnessError when not built yet)."""
    if tool_id not in TOOLS:
        raise ConfigError(f"unknown tool {tool_id!r}; choose from {', '.join(TOOLS)}")
    if tool_id == "rss":
        # cast: Runner declares id/slowdown as plain attributes, NullRunner (frozen) as read-only ones.
        return cast(Runner, NullRunner())
    module_name = f"pyharness.runners.{tool_id.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise  # the runner module exists but one of its own imports is missing: a real bug
        raise HarnessError(
            f"the {tool_id!r} tool has no runner yet: {module_name} (pyharness/runners/{tool_id}.py) "
            "is not part of this build"
        ) from err
    make = getattr(module, "make_runner", None)
    if make is None:
        raise HarnessError(f"{module_name} defines no make_runner()")
    runner: Runner = make()
    return runner


# What a tool's parser module (``pyharness/parsers/<tool>.py``) defines:
#     def parse_cell(cell_dir: Path, result: ProcResult) -> Sequence[Finding] | ParsedCell: ...
# reading the artifacts the runner named; it never spawns. A tool that also measures
# (heaptrack's heap totals) returns a ``ParsedCell``: its findings and its metrics,
# which the orchestrator puts into the cell report beside the workload's own.
ModuleParser = Callable[[Path, "ProcResult"], "Sequence[Finding] | ParsedCell"]
CellParser = Callable[[Path, "ProcResult"], ParsedCell]


def as_parsed(output: Sequence[Finding] | ParsedCell) -> ParsedCell:
    """A parser module's output in the contract's one shape."""
    if isinstance(output, ParsedCell):
        return output
    return ParsedCell(tuple(output))


def parser_for(tool_id: str) -> CellParser | None:
    """The parser for ``tool_id`` (findings and metrics); None for ``rss`` (judged from samples, events)."""
    if tool_id not in TOOLS:
        raise ConfigError(f"unknown tool {tool_id!r}; choose from {', '.join(TOOLS)}")
    if tool_id == "rss":
        return None
    module_name = f"pyharness.parsers.{tool_id.replace('-', '_')}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise HarnessError(
            f"the {tool_id!r} tool has no parser yet: {module_name} is not part of this build"
        ) from err
    parse = getattr(module, "parse_cell", None)
    if parse is None:
        raise HarnessError(f"{module_name} defines no parse_cell()")
    module_parser: ModuleParser = parse
    # A parser written for the restructured pipeline returns unattributed findings
    # (``UNATTRIBUTED = True``); until attribution is a stage of its own, apply it here.
    unattributed = bool(getattr(module, "UNATTRIBUTED", False))

    def cell_parser(cell_dir: Path, result: ProcResult) -> ParsedCell:
        parsed = as_parsed(module_parser(cell_dir, result))
        if unattributed:
            parsed = ParsedCell(attribute_all(parsed.findings), parsed.metrics)
        return parsed

    return cell_parser
