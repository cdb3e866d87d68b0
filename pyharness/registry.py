"""Which runner wraps the subject, and which parser reads its artifacts, for each tool id.

The ``rss`` tool runs the subject as it is (``NullRunner``: sampling is the
gateway's job) and has no parser. Every other tool has a runner module,
``pyharness/runners/<tool>.py``, defining::

    def make_runner() -> Runner: ...

and a parser module, ``pyharness/parsers/<tool>.py``, defining::

    def make_parser() -> Parser: ...

(``pyharness.parsers.base``: it reads the artifacts the runner named, never
spawns, and returns *unattributed* findings and the tool's metrics; attribution
is applied once, by the cell, with the project's policy). Both are imported on
demand, so adding a tool is adding those two modules (and its row in
``matrix.TOOLS``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS
from pyharness.parsers.base import Parser
from pyharness.runners.base import NullRunner, Runner


def _module(kind: str, tool_id: str) -> ModuleType:
    if tool_id not in TOOLS:
        raise ConfigError(f"unknown tool {tool_id!r}; choose from {', '.join(TOOLS)}")
    name = f"pyharness.{kind}.{tool_id.replace('-', '_')}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise  # the module exists but one of its own imports is missing: a real bug
        raise HarnessError(
            f"the {tool_id!r} tool has no {kind[:-1]} yet: {name} is not part of this build"
        ) from err


def runner_for(tool_id: str) -> Runner:
    """The runner for ``tool_id`` (ConfigError for an unknown id)."""
    if tool_id == "rss":
        return NullRunner()
    make = getattr(_module("runners", tool_id), "make_runner", None)
    if make is None:
        raise HarnessError(f"pyharness.runners.{tool_id} defines no make_runner()")
    runner: Runner = make()
    return runner


def parser_for(tool_id: str) -> Parser | None:
    """The parser for ``tool_id``; None for ``rss`` (judged from samples and events)."""
    if tool_id == "rss":
        return None
    make = getattr(_module("parsers", tool_id), "make_parser", None)
    if make is None:
        raise HarnessError(f"pyharness.parsers.{tool_id} defines no make_parser()")
    parser: Parser = make()
    return parser
