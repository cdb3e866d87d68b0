"""How long a subject took, as measured: the store the slow tools' time limits follow.

A guess of a workload's native duration (``project.DEFAULT_EXPECTED_S``: two
minutes for a command) sets the limits until the workload has run natively:
a real 2,400-test suite took longer than the guess allowed under a slow tool
and was killed 61% through. So a native cell (the ``rss`` tool: the plain
variant, no slowdown) that ran to its end records its subject's duration
here, and every later plan of the same subject takes it as the expected
native duration (``pyharness.cell.plan``: measured x the tool's slowdown x
the margin). Every other tool's complete runs are recorded too, each under
its own entry (``tool_key``): the tools' slowdowns were measured on compiled
workloads, and a Python-heavy suite ran 40x slower under ASan (msgpack's:
2.0 s native, 83 s under asan), so a tool's own last run is the better guide.

The store is one JSON file beside the project's build trees
(``<build root>/native-durations.json``), keyed by the workload, the preset
and what sizes the run: the subject's command line (the cell's own paths
taken out), its environment additions and its working directory. A tool that
runs the workload at another size (fewer iterations under Valgrind) has
another key, and keeps its own estimate. Each native run replaces its
entry; writes are atomic, and a store that cannot be read is no measurement.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.files import write_atomic

STORE = "native-durations.json"
NATIVE_TOOL = "rss"
SCHEMA = "pyharness.native/1"


@dataclass(frozen=True)
class Measured:
    """A native run's duration, and which run it was."""

    seconds: float
    run: str  # the run directory's name
    at: float  # when it was recorded (seconds since the epoch)


def key(
    workload: str, preset: str, *, argv: Sequence[str], env: Mapping[str, str], cwd: Path, cell_dir: Path
) -> str:
    """What identifies a native run's size: the workload, preset, command, environment, directory."""
    cell = str(cell_dir)
    doc = {
        "workload": workload,
        "preset": preset,
        "argv": [a.replace(cell, "<cell>") for a in argv],
        "env": dict(sorted(env.items())),
        "cwd": str(cwd).replace(cell, "<cell>"),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def tool_key(native_key: str, tool: str) -> str:
    """The entry of a tool's own complete runs of the subject (the native tool's is the native key)."""
    return native_key if tool == NATIVE_TOOL else f"{native_key}:{tool}"


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = doc.get("entries") if isinstance(doc, dict) else None
    return dict(entries) if isinstance(entries, dict) else {}


def lookup(store_dir: Path, entry_key: str) -> Measured | None:
    entry = _read(store_dir / STORE).get(entry_key)
    if not isinstance(entry, dict):
        return None
    try:
        seconds = float(entry["seconds"])  # type: ignore[arg-type]
        return Measured(seconds, str(entry.get("run", "")), float(entry.get("at", 0.0)))  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None


def record(store_dir: Path, entry_key: str, workload: str, seconds: float, run: str) -> None:
    """Replace the entry ``entry_key`` with this measurement."""
    path = store_dir / STORE
    store_dir.mkdir(parents=True, exist_ok=True)
    entries = _read(path)
    entries[entry_key] = {"workload": workload, "seconds": round(seconds, 3), "run": run, "at": time.time()}
    write_atomic(path, json.dumps({"schema": SCHEMA, "entries": entries}, indent=1, sort_keys=True) + "\n")
