"""The unit tier: no build, no tool, no subject process. Enforced, not promised.

Every test here runs with process starts refused: a test that would build a
variant, run a tool or start a subject fails with the command it tried, and
belongs in ``tests/integration/``. Only the short queries behind a report's
facts are let through (``git``, ``c++ --version``, ``uname``), as they cost
milliseconds and every run's summary makes them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

FACT_QUERIES = frozenset({"git", "c++", "uname"})


class ProcessStartRefused(AssertionError):
    """A unit test tried to start a process."""


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_init = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        argv = [args] if isinstance(args, str | bytes) else list(args)
        name = os.path.basename(str(argv[0])) if argv else ""
        if name not in FACT_QUERIES:
            raise ProcessStartRefused(
                f"a unit test started {argv[:3]}: move it to tests/integration/ with its marker"
            )
        real_init(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    yield
