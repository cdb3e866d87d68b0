"""The ``valgrind`` runner: the subject under Valgrind memcheck, reporting in XML.

One XML file per process (``<cell_dir>/valgrind.<pid>.xml``): the subject may
start helper processes (the client side of a workload), and each is traced.
Only definite and indirect leaks are shown and count as errors; possibly-lost
blocks are CPython's GC objects (docs/ARCHITECTURE.md, "Facts"). ``--error-exitcode`` marks
"memcheck found something" apart from a crashed subject.

Under pyharness's pytest plugin (``ctx.tests``) the subject loads the
``vghelper`` native helper (``subject_helpers``: the cell builds it before the
subject starts, so no compiler ever runs under memcheck) to mark each test in
the XML and search for leaks between tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.pertest import VGHELPER, VGHELPER_ENV
from pyharness.runners._common import require_executable, tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

ERROR_EXITCODE = 99
XML_PATTERN = "valgrind.%p.xml"
STDERR_FILE = "valgrind.stderr"
SUPPRESSIONS = "valgrind.supp"


@dataclass(frozen=True)
class ValgrindRunner:
    """memcheck with XML output, the project's suppressions and an error exit code."""

    id: str = "valgrind"
    trace_children: bool = True
    num_callers: int = 40
    track_origins: bool = False  # 2x slower again; worth it only when chasing an uninitialised value
    subject_helpers: tuple[str, ...] = (VGHELPER,)

    def check_available(self) -> None:
        require_executable(self.id, "valgrind")

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        suppressions = ctx.suppression_files(SUPPRESSIONS)  # memcheck takes several
        argv = (
            require_executable(self.id, "valgrind"),
            "--tool=memcheck",
            "--xml=yes",
            f"--xml-file={ctx.cell_dir / XML_PATTERN}",
            *(f"--suppressions={path}" for path in suppressions),
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            f"--error-exitcode={ERROR_EXITCODE}",
            f"--num-callers={self.num_callers}",
            f"--trace-children={'yes' if self.trace_children else 'no'}",
            # A fork without exec (multiprocessing) would write a second, interleaved report.
            "--child-silent-after-fork=yes",
            f"--track-origins={'yes' if self.track_origins or ctx.track_origins else 'no'}",
            *subject,
        )
        plugin: dict[str, str] = {}
        if ctx.tests is not None:
            helper = ctx.tests.helpers.get(VGHELPER)
            plugin = ctx.tests.environment(self.id, **({VGHELPER_ENV: str(helper)} if helper else {}))
        return LaunchSpec(
            argv=argv,
            # pymalloc's arenas hide individual blocks from memcheck; malloc shows them.
            env=tool_env(env, PYTHONMALLOC="malloc", **plugin),
            timeout_s=ctx.limit_s,
            success_codes=frozenset({0, ERROR_EXITCODE}),
            stderr_path=ctx.cell_dir / STDERR_FILE,
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        return ()


def xml_files(cell_dir: Path) -> list[Path]:
    """The artifacts the valgrind parser reads, one per traced process."""
    return sorted(cell_dir.glob("valgrind.*.xml"), key=lambda p: p.name)


def make_runner() -> ValgrindRunner:
    """The runner ``pyharness.registry.runner_for("valgrind")`` returns."""
    return ValgrindRunner()
