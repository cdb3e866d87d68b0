"""The import hook that makes a staged build win over the project's source tree, in the subject.

Why it is needed. A subject imports the variant because its stage is first on
``PYTHONPATH`` (``pyharness.build.Staged.env``). But ``python -c``, ``python
-m`` and a script put a directory in front of ``PYTHONPATH`` (the working
directory, the script's own), and pytest inserts its rootdir or a conftest's
folder (``--import-mode=prepend``, its default; ``append`` and ``importlib``
find the package there too). In a flat project (``simplejson/`` at the root,
beside ``pyproject.toml``) that directory holds the package's *sources*: they
are imported instead of the staged build, and the extension module is not
there (``ModuleNotFoundError: No module named 'pkg._ext'``), or a stale
in-place build is, or the package falls back to pure Python and the tool never
sees the C.

What it does. ``StageFinder`` goes first on ``sys.meta_path``. It answers only
for the project's own top-level names as staged (``packages``) and leaves
every other import to the usual machinery at the cost of one ``str.partition``
and a set lookup. For those names:

1. an extension module the stage holds (``extensions``: dotted name -> file,
   listed when the variant was staged, so no file is looked at here) is
   loaded from the stage, wherever its package was imported from; a stale
   in-place build beside the sources never wins;
2. a submodule of a package imported from the source tree that the sources
   do not have (a generated ``_version.py``, a module the build writes) is
   found in the stage's copy of that package;
3. anything else (the package itself, its Python modules) is found where
   Python would find it: a test file inside the package is imported from the
   sources as pytest expects (importing the whole package from the stage
   instead would make pytest's rootdir import of ``pkg/tests/test_x.py``
   disagree with the file it collected).

How it is installed. The staged variant's ``hook/`` folder (written by
``pyharness.build.hook``) goes first on ``PYTHONPATH``; it holds a copy of
this module and a ``sitecustomize.py`` that calls ``install`` with the stage,
the packages and the extension map, then runs the ``sitecustomize`` it shadows
(Debian's, a virtual environment's), if any, as Python would have. ``site``
imports ``sitecustomize`` after the ``.pth`` files, so the finder also goes in
front of an editable install's finder. Nothing is installed under ``-S``, ``-I``
or ``-E`` (no ``site`` or no ``PYTHONPATH``): ``pyharness.cell.preflight``
checks, before any tool runs, that the staged extension modules resolve into
the stage in the subject's own interpreter, working directory and environment,
and names the shadowing directory otherwise.

This module is copied into subjects whose interpreter may be another than the
orchestrator's: it imports nothing but what the import system has already
loaded (no ``from __future__``, no ``typing`` at run time), so a subject's
start costs about a millisecond more (``-X importtime``), not eight.
"""

import os
import sys

# The import system's own modules, loaded before any user code: importing importlib.util instead
# (contextlib, collections, functools behind it) tripled the hook's cost per subject start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any

_bootstrap: "Any" = sys.modules.get("_frozen_importlib")
_external: "Any" = sys.modules.get("_frozen_importlib_external")
if _bootstrap is None or _external is None:  # not CPython: the same modules, imported
    import importlib._bootstrap
    import importlib._bootstrap_external

    _bootstrap, _external = importlib._bootstrap, importlib._bootstrap_external

MODULE_NAME = "_pyharness_stagehook"


class StageFinder:
    """A meta-path finder: the stage's extension modules and stage-only modules, first."""

    def __init__(self, stage: str, packages: "Iterable[str]", extensions: "Mapping[str, str]") -> None:
        self.stage = stage
        self.packages = frozenset(packages)
        self.extensions = dict(extensions)

    def find_spec(
        self, name: str, path: "Sequence[str] | None" = None, target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        top, dot, _ = name.partition(".")
        if top not in self.packages:
            return None
        origin = self.extensions.get(name)
        if origin is not None:
            loader = _external.ExtensionFileLoader(name, origin)
            spec: ModuleSpec | None = _external.spec_from_file_location(name, origin, loader=loader)
            return spec
        if not dot or path is None:
            return None  # a top-level name: Python's own search order decides
        parent = os.path.join(self.stage, *name.split(".")[:-1])
        if parent in path:
            return None  # the package is the stage's: the usual search finds its modules
        found: ModuleSpec | None = _external.PathFinder.find_spec(name, path)
        if found is not None:
            return found  # the sources have it (found once, not twice)
        spec = _external.PathFinder.find_spec(name, [parent])
        return spec

    def invalidate_caches(self) -> None:
        return None


def install(stage: str, packages: "Iterable[str]", extensions: "Mapping[str, str]") -> StageFinder:
    """Put a ``StageFinder`` first on ``sys.meta_path`` (once) and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, StageFinder):
            return finder
    finder = StageFinder(stage, packages, extensions)
    sys.meta_path.insert(0, finder)
    return finder


def chain_sitecustomize(own_dir: str) -> None:
    """Run the ``sitecustomize`` that ours shadows (the next one on ``sys.path``), as ``site`` would."""
    here = os.path.realpath(own_dir)
    rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = _external.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = _bootstrap.module_from_spec(spec)
    ours = sys.modules.get("sitecustomize")
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # site reports a failing sitecustomize and carries on; so do we
        sys.modules["sitecustomize"] = ours if ours is not None else module
        print(f"Error in sitecustomize (run by pyharness's hook); set PYTHONVERBOSE for details: "
              f"{type(err).__name__}: {err}", file=sys.stderr)  # fmt: skip
