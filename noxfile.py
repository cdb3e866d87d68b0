"""Nox sessions: the matrix, defined by pyharness.matrix, and the project's checks.

`nox -s tests` is the test command CI runs (see README.md and .ci/run).
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def group(name: str) -> list[str]:
    """Requirements of one dependency group in pyproject.toml."""
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install the package as users do, smoke-test it, then run the test suite."""
    session.install(*group("test"))
    session.install(".")  # meson-python, plain variant, memory_profile_demo into bin
    # -P: import the installed copy, not the checkout in the current directory.
    session.run("python", "-P", "-c", "import pyharness._netcore, pyharness._build_config as b; print(b.VARIANT)")
    session.run("memory_profile_demo", "connections", "--connections", "1000")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format check) and mypy --strict on the package."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *session.posargs)
