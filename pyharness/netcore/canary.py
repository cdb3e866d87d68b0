"""The ``canary`` scenario: one deliberate defect of ``pyharness._canaries``, for the self-test.

``pyharness scenario pyharness.netcore.canary:SCENARIO --defect leak`` calls the
one canary function and reports a result event; the tool under which it runs
must (or must not) report it, as the self-test's table says
(``pyharness.netcore.selftest``). The ``growth`` canary is not a single call but
native memory kept every stability cycle (``stability
--inject-native-growth-bytes``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from pyharness.api import EventLog, Scenario, SubjectError
from pyharness.netcore import judges
from pyharness.netcore.common import KIB, positive_int, prepare

ID = "canary"
ENTRY = "pyharness.netcore.canary:SCENARIO"
LEAK_BYTES = 4 * KIB
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
    prepare()
    canaries = load_canaries()
    defect: str = args.defect
    if not hasattr(canaries, "race") and defect == "race":
        raise SubjectError("this build of pyharness._canaries has no race canary")
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
    judges.canary,
    expected_s={"quick": 2.0, "sweep": 2.0},
)
