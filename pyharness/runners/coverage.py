"""The ``coverage`` runner: the subject natively on the coverage variant, then gcovr.

The variant is built with ``--coverage``: every instrumented object writes its
counters (``.gcda``) when the process exits, by default beside the object in
the shared build tree. Cells run two at a time, so each cell's counters are sent
into its own directory instead: ``GCOV_PREFIX=<cell>/gcov`` with
``GCOV_PREFIX_STRIP`` taking off the build tree's own folders, so the object
``<build tree>/meson/csrc/x.cpp.o`` counts into ``<cell>/gcov/meson/csrc/x.cpp.gcda``
(gcc manual, "Data File Relocation to Support Cross-Profiling"). Every process of
the cell inherits them (a test suite's subprocesses too); libgcov merges the
counters of processes that end at the same time under a file lock. gcov reads a
``.gcda`` beside its ``.gcno`` (the notes the compiler wrote), so the launch
links every note of the build tree into the same place; an object that never ran
has its note and no counters, and counts as never executed.

The follow-up is one gcovr run over that directory, writing one JSON report
(``coverage.json``), with the project root as gcovr's root (its paths come out
relative to it) and ``<cell>/gcov`` as gcov's working directory, so gcov's
intermediate files never meet another cell's. That needs absolute source paths
in the notes (the variant's ``-fprofile-abs-path``). Exception-only branches and
branches on lines without code are left out (``--exclude-throw-branches``,
``--exclude-unreachable-branches``): at ``-O0`` every call that may throw has
one, and they are not paths a test chooses.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.errors import HarnessError
from pyharness.runners._common import require_executable, tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

COUNTERS_DIR = "gcov"  # <cell>/gcov: the counters and links to the build's notes
REPORT_FILE = "coverage.json"
NOTES_SUFFIX = ".gcno"
# What the staged copy holds is installed files, never objects with notes.
STAGE_DIR = "stage"
GCOVR_TIMEOUT_S = 600.0


def gcovr_command(tool_id: str = "coverage") -> tuple[str, ...]:
    """gcovr as this interpreter's module (a harness dependency), else the one on PATH."""
    if importlib.util.find_spec("gcovr") is not None:
        return (sys.executable, "-m", "gcovr")
    return (require_executable(tool_id, "gcovr"),)


def report_path(cell_dir: Path) -> Path:
    """The JSON report the follow-up writes and the parser reads."""
    return cell_dir / REPORT_FILE


def link_notes(build_dir: Path, counters: Path) -> int:
    """Link every ``.gcno`` under ``build_dir`` (but its staged copy) to the same place under
    ``counters``; return how many. The counters directory is made afresh."""
    shutil.rmtree(counters, ignore_errors=True)
    counters.mkdir(parents=True)
    linked = 0
    for directory, dirs, files in os.walk(build_dir):
        here = Path(directory)
        if here == build_dir:
            dirs[:] = [d for d in dirs if d != STAGE_DIR]
        for name in files:
            if name.endswith(NOTES_SUFFIX):
                target = counters / (here / name).relative_to(build_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(here / name)
                linked += 1
    return linked


@dataclass(frozen=True)
class CoverageRunner:
    """Counters into the cell directory; gcovr's JSON report as the follow-up."""

    id: str = "coverage"

    def check_available(self) -> None:
        gcovr_command(self.id)
        require_executable(self.id, "gcov")

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        if ctx.build_dir is None:
            raise HarnessError(
                "the coverage tool reads the notes of a variant pyharness built (drop --no-build)"
            )
        build_dir = ctx.build_dir.resolve()
        counters = ctx.cell_dir / COUNTERS_DIR
        if link_notes(build_dir, counters) == 0:
            raise HarnessError(f"no coverage notes (*{NOTES_SUFFIX}) under {build_dir}: not a coverage build")
        report_path(ctx.cell_dir).unlink(missing_ok=True)
        return LaunchSpec(
            argv=tuple(subject),
            env=tool_env(
                env,
                GCOV_PREFIX=str(counters),
                # The build tree's own folders come off the object's absolute path.
                GCOV_PREFIX_STRIP=str(len(build_dir.parts) - 1),
            ),
            timeout_s=ctx.limit_s,
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        counters = ctx.cell_dir / COUNTERS_DIR
        root = ctx.project_root or ctx.cell_dir
        argv = (
            *gcovr_command(self.id),
            "--root", str(root),
            "--gcov-object-directory", str(counters),
            "--exclude-throw-branches",
            "--exclude-unreachable-branches",
            "--json", str(report_path(ctx.cell_dir)),
            str(counters),
        )  # fmt: skip
        gcovr = LaunchSpec(
            argv=argv,
            env=tool_env(os.environ, LC_ALL="C"),
            timeout_s=GCOVR_TIMEOUT_S,
            cwd=ctx.cell_dir,
            stdout_path=ctx.cell_dir / "gcovr.stdout",
            stderr_path=ctx.cell_dir / "gcovr.stderr",
            label="gcovr",
        )
        return (Followup(gcovr),)


def make_runner() -> CoverageRunner:
    """The runner ``pyharness.registry.runner_for("coverage")`` returns."""
    return CoverageRunner()
