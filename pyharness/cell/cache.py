"""Cells whose inputs did not change since they passed: reused, not run again.

A passing cell is stored under ``<build root>/cell-cache/<key>/`` (its report
and artifacts), keyed by everything its verdict depends on:

- the staged build's fingerprint (the project's files and the variant's recipe,
  ``pyharness.build``), so any edit to the project re-runs its cells;
- the plan: tool, variant, workload, the subject's command line and
  environment additions, preset and sizes (the run's own paths taken out);
- the environment the subject inherits, but for what names a run or a shell
  (``VOLATILE_ENV``): a defect switched on by a variable is another cell;
- the tool's id and whatever its runner's ``identity()`` adds (no runner has one
  yet: an upgraded valgrind does not re-run a cell; ``--fresh`` does), the
  interpreter, and pyharness (its version and its own files);
- the suppression files, the toolkit's and the project's, and its known-findings file.

Only passing cells are stored: a failure or an error is always run again, so a
flaky or fixed defect is seen afresh. A reused cell says so (``cached_from``:
the run it came from). ``--fresh`` runs every cell; the self-test and the
baselines never reuse a cell (they exist to measure).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pyharness
from pyharness.build import Staged
from pyharness.cell.plan import CellPlan
from pyharness.model import CellReport
from pyharness.runners.base import TOOLKIT_SUPPRESSIONS, Runner

CACHE_DIR = "cell-cache"
REPORT = "cell.json"
KEY_VERSION = "1"
# Set by nox, shells and pyharness itself per run: never an input of a cell's verdict.
VOLATILE_ENV = frozenset(
    {"PYHARNESS_RUN_ID", "PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLUMNS", "LINES", "TMUX", "TMUX_PANE",
     "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "DISPLAY", "WINDOWID", "NOX_CURRENT_SESSION"}
)  # fmt: skip


@functools.cache
def _harness_files() -> str:
    """pyharness's own sources (size and mtime of each): a changed toolkit re-runs every cell."""
    h = hashlib.sha256(pyharness.__version__.encode())
    root = Path(pyharness.__file__).parent
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _file_identity(path: str | None) -> str:
    if not path:
        return ""
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:missing"
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def tool_identity(runner: Runner) -> str:
    """What the runner says its tool is (``identity()``), else nothing more than its id."""
    identity = getattr(runner, "identity", None)
    return str(identity()) if callable(identity) else runner.id


def key(
    cell_plan: CellPlan, staged: Staged, runner: Runner, env: Mapping[str, str] | None = None
) -> str | None:
    """The cell's key, or None when it cannot be cached (nothing staged: the environment is unknown)."""
    if staged.fingerprint is None:
        return None
    cell_dir = str(cell_plan.cell_dir)
    inherited = {k: v for k, v in (os.environ if env is None else env).items() if k not in VOLATILE_ENV}
    folders = [TOOLKIT_SUPPRESSIONS, cell_plan.project.suppressions or Path("/nonexistent")]
    suppressions = sorted(
        (str(p), _file_identity(str(p))) for folder in folders for p in folder.glob("*.supp")
    )
    doc = {
        "v": KEY_VERSION,
        "build": staged.fingerprint,
        "variant": cell_plan.variant,
        "tool": cell_plan.tool.id,
        "tool_identity": tool_identity(runner),
        "workload": cell_plan.workload.id,
        "preset": cell_plan.preset,
        "argv": [a.replace(cell_dir, "<cell>") for a in cell_plan.argv],
        "plan_env": dict(cell_plan.env),
        "python_path": list(cell_plan.python_path),
        "cwd": str(cell_plan.cwd).replace(cell_dir, "<cell>"),
        "env": inherited,
        "python": [os.path.realpath(sys.executable), sys.version, cell_plan.project.interpreter],
        "harness": _harness_files(),
        "suppressions": suppressions,
        "known": _file_identity(str(cell_plan.project.known_path)),  # an accepted finding changes a verdict
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def cache_root(staged: Staged) -> Path | None:
    return staged.build_dir.parent / CACHE_DIR if staged.build_dir is not None else None


def lookup(cell_plan: CellPlan, staged: Staged, cell_key: str) -> CellReport | None:
    """The stored report, its artifacts copied into the plan's cell directory; None on a miss."""
    root = cache_root(staged)
    if root is None:
        return None
    entry = root / cell_key
    try:
        stored = CellReport.from_json(json.loads((entry / REPORT).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stored.status != "pass":
        return None
    for path in entry.rglob("*"):
        if path.is_file() and path.name != REPORT:
            target = cell_plan.cell_dir / path.relative_to(entry)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    source = stored.cached_from or (json.loads((entry / REPORT).read_text()).get("run") or "an earlier run")
    return replace(stored, cached_from=str(source))


def store(cell_plan: CellPlan, staged: Staged, cell_key: str, report: CellReport, run_id: str) -> None:
    """Keep a passing cell (its artifacts and report) under its key."""
    root = cache_root(staged)
    if root is None or report.status != "pass":
        return
    entry = root / cell_key
    tmp = root / f".{cell_key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(cell_plan.cell_dir, tmp, ignore=shutil.ignore_patterns(REPORT))
    doc = report.to_json()
    doc["run"] = run_id
    (tmp / REPORT).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(tmp, entry)
