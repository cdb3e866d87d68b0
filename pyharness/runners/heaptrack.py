"""The ``heaptrack`` runner: the subject under heaptrack, then ``heaptrack_print`` twice.

heaptrack 1.4.0 as packaged here has no ``--record-only`` (it has ``--raw``);
its default mode interprets while recording and writes ``<output>.zst`` (or
``.gz`` without zstd), does not expand ``%p`` in ``-o``, and prints its banner
on stdout. Two followups turn the recording into text read by the parser:
``heaptrack.txt`` (top peaks, allocators and temporary allocations, for people,
plus the totals) and ``heaptrack-leaks.txt`` (every leak site, unmerged, so a
small project leak is never cut off behind the interpreter's larger ones).
``heaptrack_print --suppressions`` dropped every leak in 1.4.0, so none is
passed: the parser filters by the top project frame instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyharness.errors import ConfigError
from pyharness.runners._common import require_executable, tool_env
from pyharness.runners.base import Followup, LaunchSpec, RunContext

DATA_STEM = "heaptrack.data"
SUMMARY_FILE = "heaptrack.txt"
LEAKS_FILE = "heaptrack-leaks.txt"
# Large enough for "every site": heaptrack_print has no "unlimited".
ALL_SITES = "1000000000"


def recording(cell_dir: Path) -> Path:
    """The recording heaptrack wrote: ``heaptrack.data.zst``, or ``.gz`` when zstd is absent."""
    for suffix in (".zst", ".gz"):
        path = cell_dir / f"{DATA_STEM}{suffix}"
        if path.is_file():
            return path
    return cell_dir / f"{DATA_STEM}.zst"


@dataclass(frozen=True)
class HeaptrackRunner:
    """heaptrack recording into the cell directory; heaptrack_print as followups."""

    id: str = "heaptrack"
    print_timeout_floor_s: float = 120.0  # heaptrack_print reads the whole recording

    def check_available(self) -> None:
        require_executable(self.id, "heaptrack")
        require_executable(self.id, "heaptrack_print")

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        if any("\n" in arg for arg in subject):
            # Measured: heaptrack 1.4 writes the command line unescaped into its line-based
            # recording, and a newline shifts every string index: all frames come out garbled.
            raise ConfigError(
                "heaptrack cannot record a command whose arguments contain a newline; "
                "put multi-line code in a script file"
            )
        argv = (require_executable(self.id, "heaptrack"), "-o", str(ctx.cell_dir / DATA_STEM), *subject)
        return LaunchSpec(
            argv=argv,
            # With pymalloc heaptrack would see 256 KiB arenas, not the objects in them.
            # Under pyharness's pytest plugin: its journal and probes (heaptrack's leaks are
            # read at exit, for the whole run).
            env=tool_env(env, PYTHONMALLOC="malloc", **(ctx.tests.environment(self.id) if ctx.tests else {})),
            timeout_s=ctx.limit_s,
            success_codes=frozenset({0}),  # heaptrack passes the subject's exit code through
            label=self.id,
        )

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        cell_dir = ctx.cell_dir
        exe = require_executable(self.id, "heaptrack_print")
        data = str(recording(cell_dir))
        env = tool_env(os.environ, LC_ALL="C")  # the parser reads this text
        timeout = max(ctx.limit_s, self.print_timeout_floor_s)
        summary = LaunchSpec(
            argv=(
                exe,
                "--file",
                data,
                "--print-peaks",
                "1",
                "--print-allocators",
                "1",
                "--print-temporary",
                "1",
                "--print-leaks",
                "0",
                "--peak-limit",
                "5",
                "--sub-peak-limit",
                "2",
            ),
            env=env,
            timeout_s=timeout,
            stdout_path=cell_dir / SUMMARY_FILE,
            label="heaptrack_print",
        )
        leaks = LaunchSpec(
            argv=(
                exe,
                "--file",
                data,
                "--print-peaks",
                "0",
                "--print-allocators",
                "0",
                "--print-temporary",
                "0",
                "--print-leaks",
                "1",
                "--merge-backtraces",
                "0",
                "--peak-limit",
                ALL_SITES,
            ),
            env=env,
            timeout_s=timeout,
            stdout_path=cell_dir / LEAKS_FILE,
            label="heaptrack_print",
        )
        return (Followup(summary), Followup(leaks))


def make_runner() -> HeaptrackRunner:
    """The runner ``pyharness.registry.runner_for("heaptrack")`` returns."""
    return HeaptrackRunner()
