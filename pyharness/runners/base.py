"""The contract between runners, the subprocess gateway and parsers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class RunContext:
    """What a runner is told about the cell it wraps a subject for."""

    cell_dir: Path  # artifacts go here
    limit_s: float  # the cell's time limit, already scaled for the tool: used as it is
    suppressions: Path | None  # the project's suppressions folder, or None


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


class ContextRunner(Protocol):
    """A runner written to the RunContext interface (the harness restructure's)."""

    id: str
    slowdown: float

    def check_available(self) -> None: ...

    def launch(self, subject: Sequence[str], env: Mapping[str, str], ctx: RunContext) -> LaunchSpec: ...

    def followups(self, ctx: RunContext) -> Sequence[Followup]: ...


@dataclass(frozen=True)
class ContextRunnerAdapter:
    """A ContextRunner served through today's Runner calls (cell_dir, a limit already scaled)."""

    inner: ContextRunner
    suppressions: Path | None = None

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def slowdown(self) -> float:
        return self.inner.slowdown

    def check_available(self) -> None:
        self.inner.check_available()

    def _ctx(self, cell_dir: Path, timeout_s: float) -> RunContext:
        return RunContext(cell_dir=cell_dir, limit_s=timeout_s, suppressions=self.suppressions)

    def launch(
        self, subject: Sequence[str], env: Mapping[str, str], cell_dir: Path, timeout_s: float
    ) -> LaunchSpec:
        return self.inner.launch(subject, env, self._ctx(cell_dir, timeout_s))

    def followups(self, cell_dir: Path, timeout_s: float) -> Sequence[Followup]:
        return self.inner.followups(self._ctx(cell_dir, timeout_s))
