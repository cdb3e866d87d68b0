"""Building a variant of the C++ core into its own persistent tree, and staging it.

Each variant of ``matrix.VARIANTS`` gets ``build/<variant>/`` (meson's build
directory, so rebuilds are incremental) and ``build/<variant>/stage/``, a
complete installed copy of the package (``stage/site``) and the native demo
(``stage/bin``). A subject process runs a variant by putting its ``site``
first on ``PYTHONPATH``; nothing is installed into an environment, so one
orchestrator can run all three variants side by side. (An editable install
of the package would defeat this: its import hook wins over ``PYTHONPATH``,
see DESIGN section 9; ``subject_env`` checks the variant at import time.)
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pyharness.errors import BuildError, ConfigError, ToolMissingError
from pyharness.matrix import VARIANTS

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class StagedBuild:
    """A built and staged variant."""

    variant: str
    build_dir: Path
    site_dir: Path
    bin_dir: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment in which ``python -m pyharness`` imports this variant."""
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.site_dir), env.get("PYTHONPATH", "")) if p)
        env["PATH"] = os.pathsep.join((str(self.bin_dir), env.get("PATH", "")))
        env["PYHARNESS_EXPECT_VARIANT"] = self.variant
        return env


def source_root() -> Path:
    """The checkout this module runs from; building needs the C++ sources."""
    if not (SOURCE_ROOT / "meson.build").is_file():
        raise ConfigError(
            f"no source tree at {SOURCE_ROOT}: building a variant needs a checkout of the project"
        )
    return SOURCE_ROOT


def default_build_root() -> Path:
    """``build/`` in the checkout, or ``$PYHARNESS_BUILD_ROOT`` when set (separate
    checkouts or concurrent runs each keep their own persistent trees)."""
    override = os.environ.get("PYHARNESS_BUILD_ROOT")
    return Path(override).resolve() if override else source_root() / "build"


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], what: str, verbose: bool) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=not verbose, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-40:])
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def _meson() -> list[str]:
    if shutil.which("meson") is not None:
        return ["meson"]
    if importlib.util.find_spec("mesonbuild") is None:
        raise ToolMissingError("meson", "pip install meson ninja")
    return [sys.executable, "-m", "mesonbuild.mesonmain"]


def build_interpreter() -> str:
    """The interpreter builds are made for: the base one behind any virtual
    environment, so every nox session's venv shares one persistent tree per
    variant instead of reconfiguring it (the staged package is imported by
    whichever venv runs the subject)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return base if Path(base).is_file() else sys.executable


def _stamp(setup_args: list[str]) -> str:
    versions = {}
    for dist in ("pybind11", "meson"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return json.dumps(
        {"args": setup_args, "python": build_interpreter(), "versions": versions}, sort_keys=True
    )


def stage(variant_id: str, *, build_root: Path | None = None, verbose: bool = False) -> StagedBuild:
    """Configure (once), compile (incrementally) and stage ``variant_id``; return where it is.

    Concurrent callers on one tree are serialised by a lock file.
    """
    if variant_id not in VARIANTS:
        raise ConfigError(f"unknown variant {variant_id!r}; choose from {', '.join(VARIANTS)}")
    build_dir = (build_root or default_build_root()) / variant_id
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir.parent / f".{variant_id}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _stage_locked(variant_id, build_dir, verbose)


def _stage_locked(variant_id: str, build_dir: Path, verbose: bool) -> StagedBuild:
    root = source_root()
    stage_dir = build_dir / "stage"
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)  # a sanitizer runtime must never reach the compiler
    # pybind11-config and ninja live beside the interpreter in a virtual environment.
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    setup_args = [
        "--prefix=/",
        "-Dpython.platlibdir=site",
        "-Dpython.purelibdir=site",
        f"-Dvariant={variant_id}",
        "--native-file",
        str(_native_file(build_dir)),
        *VARIANTS[variant_id].meson_args,
    ]
    stamp = build_dir / "pyharness-setup.json"
    wanted = _stamp(setup_args)
    meson = _meson()

    def setup() -> None:
        wipe = ["--wipe"] if (build_dir / "meson-private").is_dir() else []
        _run(
            [*meson, "setup", *wipe, str(build_dir), str(root), *setup_args],
            cwd=root,
            env=env,
            what=f"meson setup ({variant_id})",
            verbose=verbose,
        )
        stamp.write_text(wanted)

    configured_now = False
    if not (build_dir / "build.ninja").is_file() or not stamp.is_file() or stamp.read_text() != wanted:
        setup()
        configured_now = True
    compile_cmd = [*meson, "compile", "-C", str(build_dir)]
    try:
        _run(compile_cmd, cwd=root, env=env, what=f"compile ({variant_id})", verbose=verbose)
    except BuildError:
        if configured_now:
            raise
        # The tree may have been configured from an environment that is gone
        # (its pybind11 headers with it): configure afresh once before failing.
        setup()
        _run(compile_cmd, cwd=root, env=env, what=f"compile ({variant_id})", verbose=verbose)
    _run(
        [*meson, "install", "-C", str(build_dir), "--destdir", str(stage_dir), "--quiet", "--only-changed"],
        cwd=root,
        env=env,
        what=f"stage ({variant_id})",
        verbose=verbose,
    )
    return StagedBuild(variant_id, build_dir, stage_dir / "site", stage_dir / "bin")


def _native_file(build_dir: Path) -> Path:
    """A meson native file pinning the interpreter builds are made for."""
    path = build_dir.parent / f"{build_dir.name}-native.ini"
    text = f"[binaries]\npython = '{build_interpreter()}'\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path
