"""Shared fixtures: the staged build of the core, and the tool gate.

Tests import the pure-Python package from the checkout (``pythonpath = ["."]``)
and its compiled modules from a staged build, found by appending the staged
package directory to ``pyharness.__path__``: edits to ``.py`` files need no
restaging.

Run as a workload under a tool (``pyharness matrix asan pytest``, or ``pyharness
wrap``), the orchestrator has already staged the tool's variant and put it first on
``PYTHONPATH`` (and named it in ``PYHARNESS_EXPECT_VARIANT``): the tests then use
that build and build nothing. Run by hand, the session builds the ``plain``
variant itself (incrementally).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import pyharness
from pyharness import build, project

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHECKOUT = Path(__file__).resolve().parent.parent
# Under a tool the subject's environment names the variant it must import (asan for ASan...).
VARIANT = os.environ.get(build.VARIANT_ENV) or "plain"
UNDER_TOOL = build.VARIANT_ENV in os.environ
# Loops shrink under slow tools (the matrix's sizes for the pytest workload set this).
SCALE = float(os.environ.get("NETCORE_TEST_SCALE", "1"))


def scaled(n: int, floor: int = 1) -> int:
    """``n`` iterations, scaled down under a slow tool (never below ``floor``)."""
    return max(floor, int(n * SCALE))


def require_tool(executable: str, install_hint: str) -> None:
    """Skip when a tool is missing locally; fail under CI=true, where it must be installed."""
    if shutil.which(executable) is None:
        message = f"{executable} not installed ({install_hint})"
        if IN_CI:
            pytest.fail(message + " and CI=true requires it")
        pytest.skip(message)


THIS = project.load(CHECKOUT, search=False)  # this repository, as a project


def require_module(module: str, install_hint: str) -> None:
    """``require_tool`` for a tool that is a Python module (memray): importable here, or skip/fail."""
    if importlib.util.find_spec(module) is None:
        message = f"Python module {module} not installed ({install_hint})"
        if IN_CI:
            pytest.fail(message + " and CI=true requires it")
        pytest.skip(message)


def _staged() -> build.Staged:
    if UNDER_TOOL:
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
            site = Path(entry) if entry else None
            if site is not None and (site / "pyharness" / "_build_config.py").is_file():
                objects = frozenset(p.name for p in site.rglob("*.so"))
                return build.Staged(VARIANT, THIS.build, site.parent, site, site / "bin", objects)
        raise RuntimeError(f"{build.VARIANT_ENV} is set but no staged build is on PYTHONPATH")
    return build.stage(THIS, VARIANT)


@pytest.fixture(scope="session")
def plain_build() -> build.Staged:
    """The staged build of the variant under test (built, incrementally, when run by hand)."""
    staged = _staged()
    assert staged.site_dir is not None
    extra = str(staged.site_dir / "pyharness")
    if extra not in pyharness.__path__:
        pyharness.__path__.append(extra)
    return staged


@pytest.fixture(scope="session")
def netcore(plain_build: build.Staged) -> Iterator[ModuleType]:
    # Imported here, not at the top: it exists only once plain_build extended __path__.
    from pyharness import _netcore  # noqa: PLC0415

    yield _netcore


__all__ = ["CHECKOUT", "IN_CI", "SCALE", "THIS", "UNDER_TOOL", "VARIANT", "require_tool", "scaled", "sys"]
