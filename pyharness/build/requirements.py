"""The project's build requirements, present in this environment before a build.

Builds run without build isolation (an isolated environment would be new on
every build, and meson would reconfigure from scratch each time), so the
``[build-system] requires`` of the project must be importable here. meson,
meson-python and ninja are pyharness's own dependencies; anything else the
project needs (pybind11, Cython, numpy) is installed with pip the first time,
and said so on the progress line and in the log.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable, Iterable

from packaging.requirements import InvalidRequirement, Requirement

from pyharness import proc
from pyharness.errors import BuildError, ConfigError

log = logging.getLogger("pyharness.build")
INSTALL_TIMEOUT_S = 900.0


def missing(requires: Iterable[str]) -> list[str]:
    """The requirements (as written) not satisfied by this environment."""
    out = []
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement as err:
            raise ConfigError(f"[build-system] requires: {text!r} is not a requirement: {err}") from err
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            out.append(text)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            out.append(text)
    return out


def ensure(project: object, phase: Callable[[str], None]) -> None:
    """Install the project's missing build requirements into this environment."""
    needed = missing(project.build_requires)  # type: ignore[attr-defined]
    if not needed:
        return
    phase(f"installing build requirements: {', '.join(needed)}")
    log.warning("installing the project's build requirements into %s: %s", sys.prefix, " ".join(needed))
    spec = proc.LaunchSpec(
        (sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *needed),
        dict(os.environ),
        INSTALL_TIMEOUT_S,
        label="pip install (build requirements)",
    )
    result = proc.run(spec, sample_interval=None)
    if not result.ok:
        raise BuildError(
            f"installing the build requirements {' '.join(needed)} failed ({result.describe()}):\n"
            f"{result.stderr_tail}"
        )
