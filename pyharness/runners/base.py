"""The contract between runners, the subprocess gateway and parsers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class LaunchSpec:
    """One process to start: the full command, its environment and its limits."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    timeout_s: float
    # Exit codes meaning "the tool ran; the parser gives the verdict". Anything
    # else (or a signal) is reported with the stderr tail as a tool/subject error.
    success_codes: frozenset[int] = frozenset({0})
    cwd: Path | None = None
    stdout_path: Path | None = None  # where stdout goes (else captured in memory)
    stderr_path: Path | None = None
    label: str = ""  # e.g. "valgrind", "heaptrack_print"


@dataclass(frozen=True)
class RunContext:
    """What a runner is told about the cell it wraps a subject for (the restructured interface)."""

    cell_dir: Path  # artifacts go here
    limit_s: float  # the cell's time limit, already scaled for the tool: used as is
    suppressions: Path | None  # the project's suppressions folder (lsan.supp, valgrind.supp, tsan.supp)


@dataclass(frozen=True)
class Followup:
    """A command to run after the subject, e.g. heaptrack_print over the recording."""

    spec: LaunchSpec
    required: bool = True


class Runner(Protocol):
    """How one tool wraps a subject command."""

    id: str
    # How much slower than native the subject runs under this tool: timeouts scale by it.
    slowdown: float

    def check_available(self) -> None:
        """Raise ToolMissingError (with the install command) when the tool is absent."""

    def launch(
        self, subject: Sequence[str], env: Mapping[str, str], cell_dir: Path, timeout_s: float
    ) -> LaunchSpec:
        """The spec that runs ``subject`` under this tool, writing artifacts into ``cell_dir``."""

    def followups(self, cell_dir: Path, timeout_s: float) -> Sequence[Followup]:
        """Commands to run once the subject has exited (may be empty)."""


class ContextRunner(Protocol):
    """How one tool wraps a subject command, told about its cell by a ``RunContext``."""

    @property
    def id(self) -> str:
        """The tool id (``matrix.TOOLS``)."""

    def check_available(self) -> None:
        """Raise ToolMissingError (with the install command) when the tool is absent."""

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec:
        """The spec that runs ``subject`` under this tool, writing artifacts into ``ctx.cell_dir``."""

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        """Commands to run once the subject has exited (may be empty)."""


@dataclass(frozen=True)
class ContextAdapter:
    """A ``ContextRunner`` seen through the older ``Runner`` interface.

    The orchestrator scales the cell's limit by ``slowdown`` before it calls
    ``launch`` (``Cell.prepare``), so the limit it passes is handed on as is.
    """

    runner: ContextRunner
    slowdown: float
    suppressions: Path | None

    @property
    def id(self) -> str:
        return self.runner.id

    def _ctx(self, cell_dir: Path, timeout_s: float) -> RunContext:
        return RunContext(cell_dir, timeout_s, self.suppressions)

    def check_available(self) -> None:
        self.runner.check_available()

    def launch(
        self, subject: Sequence[str], env: Mapping[str, str], cell_dir: Path, timeout_s: float
    ) -> LaunchSpec:
        return self.runner.launch(subject, env, self._ctx(cell_dir, timeout_s))

    def followups(self, cell_dir: Path, timeout_s: float) -> Sequence[Followup]:
        return self.runner.followups(self._ctx(cell_dir, timeout_s))


@dataclass(frozen=True)
class NullRunner:
    """Runs the subject as it is (the ``rss`` tool: sampling is the gateway's job)."""

    id: str = "rss"
    slowdown: float = 1.0
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def check_available(self) -> None:
        return None

    def launch(
        self, subject: Sequence[str], env: Mapping[str, str], cell_dir: Path, timeout_s: float
    ) -> LaunchSpec:
        return LaunchSpec(tuple(subject), {**env, **self.extra_env}, timeout_s, label=self.id)

    def followups(self, cell_dir: Path, timeout_s: float) -> Sequence[Followup]:
        return ()
