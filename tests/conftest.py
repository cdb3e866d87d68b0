"""Shared fixtures: the staged builds of each variant, and the tool gate.

Tests import the pure-Python package from the checkout (``pythonpath = ["."]``)
and its compiled modules from a staged build: the session fixture below builds
the ``plain`` variant (or the one ``PYHARNESS_EXPECT_VARIANT`` names, as
``pyharness wrap`` sets it) incrementally and appends its staged package directory
to ``pyharness.__path__``, so ``pyharness._netcore`` resolves to the fresh
build while edits to ``.py`` files need no restaging.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from types import ModuleType

import pytest

import pyharness
from pyharness import build

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(executable: str, install_hint: str) -> None:
    """Skip when a tool is missing locally; fail under CI=true, where it must be installed."""
    if shutil.which(executable) is None:
        message = f"{executable} not installed ({install_hint})"
        if IN_CI:
            pytest.fail(message + " and CI=true requires it")
        pytest.skip(message)


def require_module(module: str, install_hint: str) -> None:
    """``require_tool`` for a tool that is a Python module (memray): importable here, or skip/fail."""
    if importlib.util.find_spec(module) is None:
        message = f"Python module {module} not installed ({install_hint})"
        if IN_CI:
            pytest.fail(message + " and CI=true requires it")
        pytest.skip(message)


# Under `pyharness wrap --tool T` the subject's environment names the variant it
# must import (asan for ASan...): the core tests then exercise that build.
VARIANT = os.environ.get("PYHARNESS_EXPECT_VARIANT") or "plain"


@pytest.fixture(scope="session")
def plain_build() -> build.StagedBuild:
    staged = build.stage(VARIANT)
    extra = str(staged.site_dir / "pyharness")
    if extra not in pyharness.__path__:
        pyharness.__path__.append(extra)
    return staged


@pytest.fixture(scope="session")
def netcore(plain_build: build.StagedBuild) -> Iterator[ModuleType]:
    # Imported here, not at the top: it exists only once plain_build extended __path__.
    from pyharness import _netcore  # noqa: PLC0415

    yield _netcore
