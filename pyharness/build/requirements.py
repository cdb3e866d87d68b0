"""The project's build requirements, present in the building interpreter before a build.

Builds run without build isolation (an isolated environment would be new on
every build, and meson or CMake would reconfigure from scratch each time), so
what a build needs must be installed in the interpreter that builds: the
subject's (``pyharness.interpreter``; the orchestrator's by default). Two
lists, as a PEP 517 frontend reads them: the ``[build-system] requires``, and
then what the backend's own ``get_requires_for_build_wheel`` hook adds (the
``wheel`` package for a setuptools older than 70.1, ``cmake`` or ``ninja``
when scikit-build-core or meson-python find none on ``PATH``). Missing ones
are installed with that interpreter's pip the first time, and said so on the
progress line and in the log; an interpreter without pip gets a ``BuildError``
naming them and the command.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyharness import interpreter, proc
from pyharness.errors import BuildError, ConfigError

log = logging.getLogger("pyharness.build")
INSTALL_TIMEOUT_S = 900.0
HOOK_TIMEOUT_S = 300.0

# argv[1]: the backend ("module:object"), argv[2]: its backend-path as JSON; prints one JSON line.
_BACKEND_REQUIRES = r"""
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[2])
name, _, attr = sys.argv[1].partition(":")
backend = importlib.import_module(name)
for part in filter(None, attr.split(".")):
    backend = getattr(backend, part)
hook = getattr(backend, "get_requires_for_build_wheel", None)
print("\n" + json.dumps(list(hook({})) if hook is not None else []))
"""


def build_env(python: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a build (and of the questions before it) with ``python``: never a
    sanitizer preloaded into the compiler, and the interpreter's own scripts (ninja, meson,
    cmake from PyPI) first on PATH."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != "LD_PRELOAD"}
    env["PATH"] = os.pathsep.join((str(Path(python).parent), env.get("PATH", "")))
    return env


def missing(requires: Sequence[str], python: str, env: Mapping[str, str]) -> list[str]:
    """The requirements (as written) not satisfied in ``python``'s environment."""
    if not requires:
        return []
    try:
        answer = interpreter.ask(python, env, names=interpreter.names_of(requires))
    except ConfigError as err:
        raise ConfigError(f"[build-system] requires: {err}") from err
    return answer.missing(requires)


def backend_requires(project: object, python: str, env: Mapping[str, str]) -> list[str]:
    """What the backend's ``get_requires_for_build_wheel`` hook asks for, run in ``python``."""
    backend = str(getattr(project, "pep517_backend", "") or "")
    if not backend and getattr(project, "build", "") == "setuptools":
        backend = "setuptools.build_meta:__legacy__"  # no [build-system]: PEP 517's fallback
    if not backend:
        return []
    root: Path = project.root  # type: ignore[attr-defined]
    paths = [str(root / p) for p in getattr(project, "backend_path", ())]
    spec = proc.LaunchSpec(
        (python, "-c", _BACKEND_REQUIRES, backend, json.dumps(paths)),
        env,
        HOOK_TIMEOUT_S,
        cwd=root,
        label="get_requires_for_build_wheel",
    )
    result = proc.run(spec, sample_interval=None)
    lines = result.stdout.strip().splitlines()
    if not result.ok or not lines:
        raise BuildError(
            f"asking the build backend {backend} what it needs failed ({result.describe()}):\n"
            f"{result.stderr_tail}"
        )
    try:
        return [str(r) for r in json.loads(lines[-1])]
    except ValueError as err:
        raise BuildError(f"the build backend {backend} answered {lines[-1][:200]!r}") from err


def ensure(project: object, phase: Callable[[str], None], python: str) -> None:
    """Install the project's missing build requirements into ``python``'s environment."""
    env = build_env(python)
    requires = tuple(getattr(project, "build_requires", ()))
    _install(missing(requires, python, env), python, env, phase)
    dynamic = backend_requires(project, python, env)
    _install(missing(dynamic, python, env), python, env, phase)


def _install(
    needed: Sequence[str], python: str, env: Mapping[str, str], phase: Callable[[str], None]
) -> None:
    if not needed:
        return
    phase(f"installing build requirements: {', '.join(needed)}")
    log.warning("installing the project's build requirements with %s: %s", python, " ".join(needed))
    argv = (python, "-m", "pip", "install", "--disable-pip-version-check", *needed)
    spec = proc.LaunchSpec(argv, dict(env), INSTALL_TIMEOUT_S, label="pip install (build requirements)")
    result = proc.run(spec, sample_interval=None)
    if not result.ok:
        raise BuildError(
            f"the build needs {' '.join(needed)} in {python}, and installing them failed "
            f"({result.describe()}); install them yourself: {' '.join(argv)}\n{result.stderr_tail}"
        )
