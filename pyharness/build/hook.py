"""The staged variant's import hook folder: what goes first on the subject's ``PYTHONPATH``.

``write(stage_dir, hook_dir)`` lists what the stage holds of the project (its
top-level names and its extension modules, by dotted name) and writes
``hook_dir/``: a copy of ``pyharness.build.stagehook`` and a
``sitecustomize.py`` that installs its finder with that list, then runs the
``sitecustomize`` it shadows. The list is written as Python literals, so a
subject's start reads no file and imports nothing beyond the hook itself.
The folder is rewritten only when its text changes (the fingerprint of a
cell includes the staged build, not this folder).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pyharness.build import stagehook

SITECUSTOMIZE = "sitecustomize.py"
# Not modules of the project: scripts, metadata, vendored shared libraries (auditwheel's .libs).
_SKIPPED_SUFFIXES = (".dist-info", ".egg-info", ".data", ".libs")
_SKIPPED_TOP = frozenset({"bin", "__pycache__"})
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_EXTENSION = re.compile(r"^([A-Za-z_]\w*)\.(?:[\w.-]+\.)?(?:so|pyd)$")


@dataclass(frozen=True)
class StageContents:
    """What the stage holds of the project: top-level names and extension modules."""

    packages: frozenset[str]  # top-level packages and modules
    extensions: dict[str, str]  # dotted module name -> the extension file in the stage


def contents(stage_dir: Path) -> StageContents:
    """The project's top-level names and extension modules as staged."""
    packages: set[str] = set()
    extensions: dict[str, str] = {}
    if not stage_dir.is_dir():
        return StageContents(frozenset(), {})
    for entry in sorted(stage_dir.iterdir()):
        name = entry.name
        if name in _SKIPPED_TOP or name.endswith(_SKIPPED_SUFFIXES) or name.startswith("."):
            continue
        if entry.is_dir() and _IDENTIFIER.match(name):
            packages.add(name)
            _walk(entry, (name,), extensions)
        elif entry.is_file():
            module = _module_name(name)
            if module is not None:
                packages.add(module)
                match = _EXTENSION.match(name)
                if match is not None:
                    extensions[module] = str(entry)
    return StageContents(frozenset(packages), extensions)


def _module_name(filename: str) -> str | None:
    match = _EXTENSION.match(filename)
    if match is not None:
        return match.group(1)
    stem, dot, suffix = filename.partition(".")
    return stem if dot and suffix in ("py", "pyc") and _IDENTIFIER.match(stem) else None


def _walk(directory: Path, parts: tuple[str, ...], out: dict[str, str]) -> None:
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            if _IDENTIFIER.match(entry.name) and entry.name != "__pycache__":
                _walk(entry, (*parts, entry.name), out)
            continue
        match = _EXTENSION.match(entry.name)
        if match is not None:
            out[".".join((*parts, match.group(1)))] = str(entry)


def sitecustomize_text(stage_dir: Path, found: StageContents) -> str:
    return (
        "# Written by pyharness for a staged variant (pyharness/build/hook.py): the stage's\n"
        f"# extension modules win over the project's source tree; see {stagehook.MODULE_NAME}.py.\n"
        f"import {stagehook.MODULE_NAME} as _hook\n"
        f"_hook.install(\n    {str(stage_dir)!r},\n    {sorted(found.packages)!r},\n"
        f"    {dict(sorted(found.extensions.items()))!r},\n)\n"
        "_hook.chain_sitecustomize(__import__('os').path.dirname(__file__))\n"
        "del _hook\n"
    )


def write(stage_dir: Path, hook_dir: Path) -> StageContents:
    """Write (when changed) the hook folder for ``stage_dir``; return what the stage holds."""
    found = contents(stage_dir)
    hook_dir.mkdir(parents=True, exist_ok=True)
    module_text = Path(stagehook.__file__).read_text(encoding="utf-8")
    _write_if_changed(hook_dir / f"{stagehook.MODULE_NAME}.py", module_text)
    _write_if_changed(hook_dir / SITECUSTOMIZE, sitecustomize_text(stage_dir, found))
    return found


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
