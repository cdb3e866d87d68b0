"""Building a project's variants, each into its own persistent tree and staged prefix.

For every variant (``matrix.VARIANTS``, or the project's own recipe from
``[tool.pyharness.variants]``) a project gets ``<build root>/<variant>/``: the
backend's build directory (meson's, so rebuilds are incremental) and
``<build root>/<variant>/stage/``, the installed package (``pip install
--target``) with its scripts in ``stage/bin``. A subject runs a variant by
putting ``stage`` first on ``PYTHONPATH`` (``Staged.env``); nothing is
installed into an environment, so one orchestrator runs every variant side by
side. A subject whose working directory holds the project's sources (a flat
layout, pytest's rootdir) would still import them first: the variant's
``hook/`` folder goes ahead of the stage (``pyharness.build.stagehook``; it
also goes ahead of an editable install's import hook, which would otherwise
win over ``PYTHONPATH``: docs/ARCHITECTURE.md, "Facts").

The interpreter that builds is the subject's (``Project.interpreter``: the
orchestrator's unless ``--python`` or ``[tool.pyharness] python`` says
otherwise), so the extension has its ABI; another interpreter's variants get
trees of their own (``variant_dir``).

Backends (``[tool.pyharness] build``):

- ``meson-python``: ``pip install --no-build-isolation --no-deps --target STAGE
  -Cbuild-dir=DIR -Csetup-args=...`` with the variant's meson options and the
  project's ``setup-args`` (``{variant}`` expands to the variant id);
- ``setuptools``: the same pip install with the variant's ``CFLAGS``,
  ``CXXFLAGS`` and ``LDFLAGS`` in the environment, and a per-variant build
  folder (``DIST_EXTRA_CONFIG``) so objects of one variant never link into another;
- ``scikit-build-core``: the same pip install with the variant's flags as CMake
  definitions and a persistent CMake build tree per variant (``pyharness.build.cmake``);
- a Cython project (Cython among its build requirements) builds through
  setuptools or meson-python, with Cython's ``#line`` directives on, so that
  findings name the ``.pyx`` line (``_setuptools_config``; ``CYTHON`` for meson);
- ``none``: nothing is built; the subject imports whatever the environment has
  (the user built the extension themselves).

Without build isolation the project's ``[build-system] requires`` must be in
this environment: missing ones are installed first (and said so). A variant is
rebuilt only when its fingerprint (recipe and project files) changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyharness import proc
from pyharness.build import cmake, hook, requirements
from pyharness.build import fingerprint as fp
from pyharness.errors import BuildError, ConfigError
from pyharness.project import Project

log = logging.getLogger("pyharness.build")

BUILD_TIMEOUT_S = 3600.0
STAMP = "pyharness-stamp.json"
LOG = "pyharness-build.log"
CYTHON_LINE_DIRECTIVES = "--line-directives"  # Cython's option: #line directives to the .pyx
CMAKE_DIR = "cmake"  # scikit-build-core's persistent build directory, per variant
HOOK_DIR = "hook"  # beside stage/: the import hook that makes the stage win (pyharness.build.hook)
VARIANT_ENV = "PYHARNESS_EXPECT_VARIANT"
BUILD_ROOT_ENV = "PYHARNESS_BUILD_ROOT"
SHARED_OBJECT_SUFFIXES = (".so", ".pyd", ".dylib")

Phase = Callable[[str], None]


@dataclass(frozen=True)
class Staged:
    """A built and staged variant (or, for ``build = "none"``, the environment as it is)."""

    variant: str
    backend: str
    build_dir: Path | None
    site_dir: Path | None  # None: nothing staged, the environment's own packages are used
    bin_dir: Path | None
    objects: frozenset[str]  # basenames of the shared objects the build installed
    rebuilt: bool = False  # False when the stamp said nothing had changed
    fingerprint: str | None = None  # the build's inputs (None: nothing was built)
    # The import hook's folder (``pyharness.build.hook``), first on PYTHONPATH: the stage's
    # extension modules win over a source tree that comes first on sys.path.
    hook_dir: Path | None = None
    # The stage's extension modules: dotted name -> file (what the preflight checks resolve there).
    extensions: Mapping[str, str] = field(default_factory=dict)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """An environment in which the subject imports this variant first."""
        env = dict(os.environ if base is None else base)
        if self.site_dir is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p
                for p in (
                    str(self.hook_dir) if self.hook_dir else "",
                    str(self.site_dir),
                    env.get("PYTHONPATH", ""),
                )
                if p
            )
            env[VARIANT_ENV] = self.variant
        if self.bin_dir is not None:
            env["PATH"] = os.pathsep.join((str(self.bin_dir), env.get("PATH", "")))
        return env


def build_root(project: Project) -> Path:
    """``<root>/build``, or ``$PYHARNESS_BUILD_ROOT/<name>-<hash>`` when that is set
    (separate checkouts or concurrent runs each keep their own persistent trees)."""
    override = os.environ.get(BUILD_ROOT_ENV)
    if not override:
        return project.root / "build"
    tag = hashlib.sha256(str(project.root).encode()).hexdigest()[:8]
    return Path(override).resolve() / f"{project.name}-{tag}"


def unbuilt(variant: str) -> Staged:
    """What a cell runs against when nothing is built: the environment as it is."""
    return Staged(variant, "none", None, None, None, frozenset())


def stage(
    project: Project, variant_id: str, *, root: Path | None = None, phase: Phase | None = None
) -> Staged:
    """Build (when its inputs changed) and stage ``variant_id``; return where it is.

    Concurrent callers on one tree are serialised by a lock file.
    """
    variant = project.variant(variant_id)
    if project.build == "none":
        return unbuilt(variant.id)
    build_dir = variant_dir(project, variant.id, root)
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir.parent / f".{variant.id}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _stage_locked(project, variant.id, build_dir, phase or (lambda _: None))


def _recipe(
    project: Project, variant_id: str, build_dir: Path
) -> tuple[list[str], dict[str, str], dict[str, object]]:
    """(pip arguments, environment additions, the recipe as recorded in the stamp)."""
    variant = project.variant(variant_id)
    stage_dir = build_dir / "stage"
    python = project.interpreter
    pip = [
        python, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--upgrade",
        "--no-warn-script-location", "--disable-pip-version-check", "--target", str(stage_dir),
    ]  # fmt: skip
    env: dict[str, str] = {**variant.build_env, **project.build_env}
    if project.build == "meson-python":
        args = [*variant.meson_args, *(a.replace("{variant}", variant.id) for a in project.setup_args)]
        pip += [f"-Cbuild-dir={build_dir / 'meson'}", *(f"-Csetup-args={a}" for a in args)]
        if is_cython(project):
            # meson has a cython_args option but (1.12) never passes it on; it does take the
            # compiler from CYTHON, read when the build tree is first configured.
            env["CYTHON"] = f"{_cython(python)} {CYTHON_LINE_DIRECTIVES}"
    elif project.build == "setuptools":
        env.update(variant.env_flags)
        env["DIST_EXTRA_CONFIG"] = str(_setuptools_config(build_dir, cython=is_cython(project)))
    elif project.build == "scikit-build-core":
        cmake_args, cmake_env = cmake.settings(variant, build_dir / CMAKE_DIR)
        pip += cmake_args
        env.update(cmake_env)
    else:
        raise ConfigError(f"unknown build backend {project.build!r}")
    pip.append(str(project.root))
    recipe: dict[str, object] = {
        "backend": project.build,
        "pip": pip[1:],
        "env": env,
        "python": [python, os.path.realpath(python)],
    }
    if python == sys.executable:
        recipe["prefix"] = sys.prefix
    return pip, env, recipe


def variant_dir(project: Project, variant_id: str, root: Path | None = None) -> Path:
    """``<build root>/<variant>``, or ``<variant>-py<hash>`` for a subject interpreter other than
    the orchestrator's (its ABI differs, and switching back and forth must not rebuild)."""
    base = root or build_root(project)
    if project.python is None or project.python == sys.executable:
        return base / variant_id
    tag = hashlib.sha256(project.python.encode()).hexdigest()[:8]
    return base / f"{variant_id}-py{tag}"


def is_cython(project: Project) -> bool:
    """True when the project builds with Cython (it is among its ``[build-system] requires``)."""
    names = {re.split(r"[^A-Za-z0-9._-]", r.strip(), maxsplit=1)[0].lower() for r in project.build_requires}
    return "cython" in names


def _cython(python: str) -> str:
    beside = Path(python).parent / "cython"
    return str(beside) if beside.exists() else (shutil.which("cython") or str(beside))


def _setuptools_config(build_dir: Path, *, cython: bool = False) -> Path:
    """A distutils config giving this variant its own build folder (objects per variant),
    and forcing a rebuild of the extension (setuptools compares timestamps, not flags).

    For a Cython project, Cython's build_ext (setuptools uses it when Cython is installed)
    emits ``#line`` directives, so findings name the ``.pyx`` line, and writes its C into the
    variant's build folder, not beside the ``.pyx`` (a C file rewritten in the sources on
    every build would change the fingerprint, and the next build would rebuild again).
    A project that calls ``cythonize()`` itself decides for itself.
    """
    path = build_dir / "setup-extra.cfg"
    text = f"[build]\nbuild_base = {build_dir / 'setuptools'}\n\n[build_ext]\nforce = 1\n"
    if cython:
        text += "cython_line_directives = 1\ncython_c_in_temp = 1\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _stage_locked(project: Project, variant_id: str, build_dir: Path, phase: Phase) -> Staged:
    stage_dir = build_dir / "stage"
    pip, env_add, recipe = _recipe(project, variant_id, build_dir)
    # The build tree is not an input of itself, wherever it lives.
    wanted = fp.fingerprint(project.root, recipe, exclude=[build_dir.parent])
    stamp = build_dir / STAMP
    rebuilt = False
    if not (stage_dir.is_dir() and stamp.is_file() and _read_stamp(stamp) == wanted):
        requirements.ensure(project, phase, project.interpreter)
        phase(f"building {variant_id} ({project.build})")
        stamp.unlink(missing_ok=True)
        # Never a sanitizer in the compiler; ninja, meson and cmake from beside the interpreter.
        env = requirements.build_env(project.interpreter)
        env.update(env_add)
        log_path = build_dir / LOG
        spec = proc.LaunchSpec(
            tuple(pip), env, BUILD_TIMEOUT_S, cwd=project.root, stdout_path=log_path,
            stderr_path=build_dir / "pyharness-build.stderr", label=f"build {variant_id}",
        )  # fmt: skip
        result = proc.run(spec, sample_interval=None)
        if not result.ok:
            tail = "\n".join((_tail(log_path) + "\n" + result.stderr_tail).strip().splitlines()[-30:])
            what = f"building the {variant_id} variant of {project.name}"
            raise BuildError(f"{what} failed ({result.describe()}); "
                             f"log: {log_path}\n{tail}")  # fmt: skip
        if not _compiled(stage_dir):
            # A setup.py that catches a failed compile and installs its pure-Python fallback
            # exits 0 (simplejson's and markupsafe's do): the variant would run no C at all.
            raise BuildError(
                f"building the {variant_id} variant of {project.name} staged no compiled extension in "
                f"{stage_dir}: the build fell back to pure Python or built nothing; see {log_path}"
            )
        stamp.write_text(json.dumps({"fingerprint": wanted, "recipe": recipe}, indent=1, default=str))
        rebuilt = True
    found = hook.write(stage_dir, build_dir / HOOK_DIR)
    return Staged(
        variant=variant_id,
        backend=project.build,
        build_dir=build_dir,
        site_dir=stage_dir,
        bin_dir=stage_dir / "bin",
        objects=frozenset(p.name for p in stage_dir.rglob("*") if p.suffix in SHARED_OBJECT_SUFFIXES
                          or ".so." in p.name),
        rebuilt=rebuilt,
        fingerprint=wanted,
        hook_dir=build_dir / HOOK_DIR,
        extensions=found.extensions,
    )  # fmt: skip


def _compiled(stage_dir: Path) -> bool:
    """True when the staged tree holds a compiled extension module or shared object."""
    return any(p.suffix in SHARED_OBJECT_SUFFIXES or ".so." in p.name for p in stage_dir.rglob("*"))


def _read_stamp(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
