"""Helpers for the harness tests: run a scenario as a real subject process.

The subject runs as the orchestrator would start it: ``python -P -m pyharness
scenario ...`` with the staged plain build first on ``PYTHONPATH``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from pyharness import build
from pyharness.workloads.events import read_events

SUBJECT_TIMEOUT_S = 120.0


def run_scenario(
    staged: build.StagedBuild,
    workload: str,
    tmp_path: Path,
    *args: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run one scenario in a subject process; return the process and its events."""
    events = tmp_path / f"{workload}.events.jsonl"
    events.unlink(missing_ok=True)
    argv = [sys.executable, "-P", "-m", "pyharness", "scenario", workload, "--events", str(events), *args]
    done = subprocess.run(
        argv,
        env={**staged.env(), **(extra_env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=SUBJECT_TIMEOUT_S,
        check=False,
    )
    return done, read_events(events)


def one(events: list[dict[str, Any]], kind: str, label: str | None = None) -> dict[str, Any]:
    """The single event of ``kind`` (and ``label``)."""
    found = [e for e in events if e["event"] == kind and (label is None or e.get("label") == label)]
    assert len(found) == 1, f"expected one {kind} {label or ''} event, got {found}"
    return found[0]
