"""The harness's error hierarchy; the CLI is the one place that maps these to exit codes."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class for every error the harness reports to the user."""


class ConfigError(HarnessError):
    """A bad argument, an unknown matrix id, or a missing input file."""


class ToolMissingError(HarnessError):
    """An external tool (valgrind, heaptrack, meson...) is not installed."""

    def __init__(self, tool: str, install_hint: str) -> None:
        super().__init__(f"{tool} is not installed; install it with: {install_hint}")
        self.tool = tool
        self.install_hint = install_hint


class BuildError(HarnessError):
    """Configuring or compiling a variant failed."""


class SubjectError(HarnessError):
    """The subject process crashed, hung or could not start."""


class ParseError(HarnessError):
    """A tool's artifact is truncated, corrupt or not in the expected format."""


class PreflightError(HarnessError):
    """The subject's environment cannot run the cell as planned: the staged build would be
    shadowed by the project's sources, or test dependencies are missing (under CI)."""
