"""The ``canary`` scenario: one deliberate defect of ``pyharness._canaries``, for the self-test.

``pyharness scenario canary --defect leak`` calls the one canary function and
reports a result event; the tool under which it runs must (or must not) report
it, as ``matrix.CANARIES`` says. It is not a matrix workload: cells of it are
named ``canary-<id>`` and only ``pyharness selftest`` runs them. The ``growth``
canary is not a single call but native memory kept every stability cycle
(``stability --inject-native-growth-bytes``), so ``subject`` maps it there.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyharness.errors import ConfigError, SubjectError
from pyharness.matrix import CANARIES
from pyharness.workloads.common import KIB, Scenario, positive_int
from pyharness.workloads.events import EventLog

ID = "canary"
WORKLOAD_PREFIX = "canary-"
GROWTH = "growth"
LEAK_BYTES = 4 * KIB
GROWTH_BYTES_PER_CYCLE = 64 * KIB  # 1,000x the stability drift limit over the judged cycles
OVERFLOW_OPERAND = 1  # 1 + INT_MAX overflows
RACE_ITERATIONS = 10_000  # per thread; TSan reports the first unordered pair, more adds only time


def _calls(nbytes: int) -> dict[str, Callable[[ModuleType], Any]]:
    return {
        "leak": lambda c: c.leak(nbytes),
        "heap_overflow_read": lambda c: c.heap_overflow_read(),
        "use_after_free": lambda c: c.use_after_free(),
        "uninitialised_branch": lambda c: c.uninitialised_branch(),
        "signed_overflow": lambda c: c.signed_overflow(OVERFLOW_OPERAND),
        "race": lambda c: c.race(RACE_ITERATIONS),
        "clean": lambda c: c.clean(),
    }


# Every canary but growth is one call; "clean" is the same shape without a defect.
DEFECTS = tuple(_calls(0))


def workload_id(canary_id: str) -> str:
    """The cell's workload id: ``canary-leak``."""
    return WORKLOAD_PREFIX + canary_id


def canary_of(workload: str) -> str | None:
    """The canary id of a ``canary-<id>`` workload, None for any other workload."""
    if not workload.startswith(WORKLOAD_PREFIX):
        return None
    canary = workload.removeprefix(WORKLOAD_PREFIX)
    if canary not in CANARIES:
        raise ConfigError(f"unknown canary {canary!r}; choose from {', '.join(CANARIES)}")
    return canary


def subject(canary_id: str) -> tuple[str, tuple[str, ...]]:
    """The scenario and options that run one canary."""
    if canary_id == GROWTH:
        return "stability", ("--inject-native-growth-bytes", str(GROWTH_BYTES_PER_CYCLE))
    return ID, ("--defect", canary_id)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--defect",
        required=True,
        choices=DEFECTS,
        help="the canary function to call (growth is `stability --inject-native-growth-bytes B`)",
    )
    parser.add_argument(
        "--nbytes",
        type=positive_int,
        default=LEAK_BYTES,
        metavar="B",
        help=f"leak: bytes to lose (default {LEAK_BYTES})",
    )


def load_canaries() -> ModuleType:
    """``pyharness._canaries``, with a clear error when the extension was not built."""
    try:
        return importlib.import_module("pyharness._canaries")
    except ImportError as err:
        raise SubjectError(f"cannot import the canary extension pyharness._canaries: {err}") from err


def run(args: argparse.Namespace, events: EventLog) -> None:
    canaries = load_canaries()
    defect: str = args.defect
    # A tool that halts on the error (ASan, UBSan) ends the process inside the call:
    # the result event then never comes, and the verdict is the tool's report alone.
    events.phase(f"canary {defect}")
    value = _calls(args.nbytes)[defect](canaries)
    events.emit("result", canary=defect, value=value if isinstance(value, int) else None)


SCENARIO = Scenario(
    ID,
    "call one deliberate defect of pyharness._canaries (the self-test's)",
    add_arguments,
    run,
    internal=True,
)
