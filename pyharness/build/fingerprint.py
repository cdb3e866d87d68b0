"""What a build depends on, as one hash: the project's files and the recipe.

A variant is rebuilt only when this changes (``pyharness.build``): a no-op
``pip install`` still costs seconds (pip, meson-python's reconfigure, zipping
the wheel), and a warm matrix stages four variants. The files are those git
knows (tracked, plus untracked but not ignored) or, outside git, every file
under the root but the build tree, environments and reports. Each contributes
its path, size and modification time: a touched file rebuilds, as make would.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

# Never inputs of a build: at the project's top (environments, build trees, reports)...
SKIPPED_TOP = frozenset({".git", ".nox", ".tox", ".venv", "venv", "build", "reports", "dist"})
# ... and anywhere (caches).
SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "node_modules"})
_GIT_TIMEOUT_S = 20.0


def project_files(root: Path, exclude: Iterable[Path] = ()) -> list[str]:
    """The project's files, root-relative and sorted."""
    skipped = [p.resolve() for p in exclude]
    files = _git_files(root)
    if files is None:
        files = _walk(root)
    out = []
    for rel in files:
        if rel.split("/", 1)[0] in SKIPPED_TOP:
            continue  # never an input, whether git ignores it or not (a reports/ folder left untracked)
        path = (root / rel).resolve()
        if any(path == s or s in path.parents for s in skipped):
            continue
        out.append(rel)
    return sorted(out)


def _git_files(root: Path) -> list[str] | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None  # not a git checkout (or git is broken): walk instead
    files = [p for p in done.stdout.decode("utf-8", "replace").split("\0") if p]
    # A tree inside another repository's ignored folder (a mutant's scratch copy under build/)
    # lists nothing: it is not that repository's, walk it instead.
    return files or None


def _walk(root: Path) -> list[str]:
    out: list[str] = []
    for directory, dirs, files in os.walk(root):
        top = Path(directory) == root
        dirs[:] = [
            d for d in dirs
            if d not in SKIPPED_DIRS and not d.endswith(".egg-info") and not (top and d in SKIPPED_TOP)
        ]  # fmt: skip
        rel_dir = os.path.relpath(directory, root)
        out.extend(os.path.normpath(os.path.join(rel_dir, f)) for f in files)
    return out


def fingerprint(root: Path, recipe: Mapping[str, object], exclude: Iterable[Path] = ()) -> str:
    """A hash of the recipe (backend, arguments, interpreter...) and the project's files."""
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode())
    for rel in project_files(root, exclude):
        try:
            st = (root / rel).stat()
        except OSError:
            continue  # listed by git but deleted in the work tree
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
