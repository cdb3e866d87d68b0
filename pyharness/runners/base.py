"""The contract between runners, the subprocess gateway and parsers.

A runner turns the subject's command line into the command line under its
tool (``launch``), names the artifacts its parser will read, and lists the
commands to run after the subject (``followups``). It never spawns and never
parses; the time limit it is given is the cell's, already computed for the
tool (``pyharness.cell.plan``), and it uses it as it is.

When the subject is a pytest suite with pyharness's plugin loaded, the
context's ``tests`` says so, and the runner adds the plugin's environment for
its tool (``pyharness.pertest.TestRun.environment``: report paths, the
journal, the leak-check budget). A runner that needs a native helper in the
subject names it in ``subject_helpers``; the cell builds it before the subject
starts and passes its path in ``tests.helpers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyharness.pertest import TestRun
from pyharness.proc import LaunchSpec

# Suppressions that belong to no project: CPython's and glibc's own noise (each entry explained).
TOOLKIT_SUPPRESSIONS = Path(__file__).resolve().parent.parent / "suppressions"


@dataclass(frozen=True)
class RunContext:
    """What a runner needs to know about the cell it launches."""

    cell_dir: Path  # artifacts go here
    limit_s: float  # the cell's time limit, already scaled for the tool: use it as is
    suppressions: Path | None = None  # the project's folder of lsan.supp, valgrind.supp, tsan.supp
    # Full (slow) unwinding of allocation stacks, for a re-run whose first stacks were cut short.
    full_unwind: bool = False
    # The staged variant's build tree (its objects and gcc's coverage notes); None when nothing
    # was built. The tool reads it; only the build writes it.
    build_dir: Path | None = None
    project_root: Path | None = None  # the project under test (where its sources are)
    # A built allocation shim to preload ahead of the tool's runtime (the asan re-run's
    # pyharness/native/asan_shift.c); None: the tool's own allocator as it is.
    alloc_shim: Path | None = None
    # memcheck: where each uninitialised value was created (--track-origins), for a re-run whose
    # findings are all uninitialised values (see pyharness.cell.unwind).
    track_origins: bool = False
    tests: TestRun | None = None  # a pytest suite with pyharness's plugin loaded (pyharness.pertest)

    def suppression_files(self, name: str) -> tuple[Path, ...]:
        """The toolkit's ``name`` (the interpreter's and libc's noise, the same for every project),
        then the project's own, those that exist."""
        candidates = [TOOLKIT_SUPPRESSIONS / name]
        if self.suppressions is not None:
            candidates.append(self.suppressions / name)
        return tuple(p for p in candidates if p.is_file())

    def suppression_file(self, name: str) -> Path | None:
        """One file of every ``suppression_files(name)`` (for tools that take only one): the
        file itself when there is one, else their concatenation in the cell directory."""
        files = self.suppression_files(name)
        if len(files) <= 1:
            return files[0] if files else None
        combined = self.cell_dir / name
        combined.write_text("".join(f"# --- {p}\n{p.read_text()}\n" for p in files), encoding="utf-8")
        return combined


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
        plugin = ctx.tests.environment(self.id) if ctx.tests is not None else {}
        return LaunchSpec(tuple(subject), {**env, **self.extra_env, **plugin}, ctx.limit_s, label=self.id)

    def followups(self, ctx: RunContext) -> Sequence[Followup]:
        return ()


def subject_helpers(runner: Runner) -> tuple[str, ...]:
    """The native helpers (``pyharness.native``) the runner's subject loads, when it names any."""
    return tuple(getattr(runner, "subject_helpers", ()))


__all__ = ["Followup", "LaunchSpec", "NullRunner", "RunContext", "Runner", "subject_helpers"]
