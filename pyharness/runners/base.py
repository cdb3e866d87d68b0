"""The contract between runners, the subprocess gateway and parsers.

A runner turns the subject's command line into the command line under its
tool (``launch``), names the artifacts its parser will read, and lists the
commands to run after the subject (``followups``). It never spawns and never
parses; the time limit it is given is the cell's, already computed for the
tool (``pyharness.cell.plan``), and it uses it as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyharness.proc import LaunchSpec


@dataclass(frozen=True)
class RunContext:
    """What a runner needs to know about the cell it launches."""

    cell_dir: Path  # artifacts go here
    limit_s: float  # the cell's time limit, already scaled for the tool: use it as is
    suppressions: Path | None = None  # the project's folder of lsan.supp, valgrind.supp, tsan.supp
    # Full (slow) unwinding of allocation stacks, for a re-run whose first stacks were cut short.
    full_unwind: bool = False

    def suppression_file(self, name: str) -> Path | None:
        """``<suppressions>/<name>`` when the project has it."""
        if self.suppressions is None:
            return None
        path = self.suppressions / name
        return path if path.is_file() else None


@dataclass(frozen=True)
class Followup:
    """A command to run after the subject, e.g. heaptrack_print over the recording."""

    spec: LaunchSpec
    required: bool = True


class Runner(Protocol):
    """How one tool wraps a subject command."""

    @property
    def id(self) -> str: ...

    def check_available(self) -> None:
        """Raise ToolMissingError (with the install command) when the tool is absent."""

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        """The spec that runs ``subject`` under this tool, writing artifacts into ``ctx.cell_dir``."""

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        """Commands to run once the subject has exited (may be empty)."""


@dataclass(frozen=True)
class NullRunner:
    """Runs the subject as it is (the ``rss`` tool: sampling is the gateway's job)."""

    id: str = "rss"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def check_available(self) -> None:
        return None

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        return LaunchSpec(tuple(subject), {**env, **self.extra_env}, ctx.limit_s, label=self.id)

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        return ()


__all__ = ["Followup", "LaunchSpec", "NullRunner", "RunContext", "Runner"]
