"""``pyharness wrap``: any command under a tool, judged into the same cell report as a workload.

This is how users put their own test suite under ASan or Valgrind
(DESIGN section 5): ``pyharness wrap --tool asan -- python -m pytest``. The
command runs in the current directory with the variant's staged build first
on ``PYTHONPATH`` (``StagedBuild.env``), wrapped by the tool's runner; then the
runner's follow-ups and the tool's parser run as for any cell
(``orchestrate.Cell``), and the report's workload is ``wrap:<name>``.

Verdict: counted findings fail the cell; so does the command's own non-zero
exit (one the tool does not claim as its own, e.g. ASan's 23), with the exit
code as the reason. A command that cannot start, is killed or times out is an
``error`` cell.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness import orchestrate
from pyharness.errors import ConfigError
from pyharness.matrix import TOOLS, VARIANTS
from pyharness.model import CellReport, Status
from pyharness.progress import Progress

WORKLOAD_PREFIX = "wrap:"
_PYTHONS = ("python", "python3")


@dataclass(frozen=True)
class WrapRequest:
    """A command to run under a tool, and where its cell report goes."""

    tool: str
    command: tuple[str, ...]
    variant: str | None = None  # default: the tool's
    out_dir: Path | None = None  # the cell goes in ``<out_dir>/<cell id>/``
    json_path: Path | None = None
    timeout_s: float | None = None  # before the tool's slowdown factor
    cwd: Path | None = None  # default: the current directory


def workload_id(command: Sequence[str]) -> str:
    """``wrap:pytest`` for ``python -m pytest ...``, ``wrap:make`` for ``make check``."""
    name = Path(command[0]).name
    if name.startswith(_PYTHONS) and "-m" in command[1:-1]:
        name = command[command.index("-m") + 1]
    elif name.startswith(_PYTHONS) and "-c" in command[1:]:
        name = "python-c"
    return WORKLOAD_PREFIX + name


def cell_request(req: WrapRequest) -> orchestrate.CellRequest:
    """The orchestrator's request for the wrap cell; ConfigError for a bad tool, variant or command."""
    if req.tool not in TOOLS:
        raise ConfigError(f"unknown tool {req.tool!r}; choose from {', '.join(TOOLS)}")
    variant = req.variant or TOOLS[req.tool].variant
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if not req.command:
        raise ConfigError(
            "no command to wrap: give it after `--`, e.g. `pyharness wrap --tool asan -- python -m pytest`"
        )
    if shutil.which(req.command[0]) is None:
        raise ConfigError(f"command not found: {req.command[0]!r}")
    workload = workload_id(req.command)
    out_dir = req.out_dir or Path("reports") / orchestrate.new_run_id()
    return orchestrate.CellRequest(
        variant=variant,
        tool=req.tool,
        workload=workload,
        timeout_s=req.timeout_s,
        # Not ``wrap:name``: the sanitizers' option strings are colon-separated and name this path.
        cell_dir=out_dir / f"{variant}-{req.tool}-{workload.replace(':', '-')}",
        json_path=req.json_path,
    )


def wrap(req: WrapRequest, *, progress: Progress | None = None) -> CellReport:
    """Run the command under the tool; return its cell report (also written to disk)."""
    cell = orchestrate.Cell.open(cell_request(req), progress)
    cell.extra = {"command": list(req.command)}
    cwd = req.cwd or Path(os.getcwd())
    return cell.finish(lambda: _run(cell, req.command, cwd))


def _run(cell: orchestrate.Cell, command: Sequence[str], cwd: Path) -> CellReport:
    staged, timeout = cell.prepare(None)
    result = cell.execute(staged, command, timeout, cwd=cwd)
    if result.timed_out or result.signal is not None:
        return cell.report("error", orchestrate.subject_failure(result, ()))
    failed = cell.run_followups(timeout)
    if failed is not None:
        return cell.report("error", failed)
    parsed = cell.parse(result)
    status: Status
    if result.returncode == 0:
        status, reason = "pass", f"the command exited 0; no {cell.req.tool} finding in project code"
    elif result.ok:
        # The tool's own exit code, yet no report names project code: the command did
        # not finish cleanly (a foreign report, or the tool failing), so it cannot pass.
        status = "error"
        reason = (
            f"the command exited {result.returncode} ({cell.req.tool}'s report code) but no report names "
            "project code; see the foreign findings and the artifacts"
        )
    else:
        status, reason = "fail", f"the command exited with code {result.returncode}"
    if result.returncode != 0 and result.ok:
        # A counted finding explains the tool's exit code: then the cell fails on it.
        return cell.verdict(status, reason, parsed.metrics, parsed.findings, halted=True)
    return cell.verdict(status, reason, parsed.metrics, parsed.findings)
