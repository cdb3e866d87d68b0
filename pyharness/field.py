"""The field trial: real PyPI extensions, pinned by version and sha256, run out of the box.

A folder of definitions (``[tool.pyharness] field = "field"``) holds one TOML file
per project::

    # simplejson 4.3.0: setuptools, its package at the project root (the flat layout)
    [field]
    name = "simplejson"
    version = "4.3.0"
    sha256 = "…"                      # of the sdist, checked before anything is unpacked
    kind = "setuptools, flat layout"
    tools = ["asan", "valgrind", "tsan"]
    test-requires = ["pytest"]         # what its tests need that its metadata does not declare
    plant = "simplejson.patch"         # a leak in a function its tests call, its line marked PLANTED
    plant-tools = ["asan", "valgrind"]
    subset = "why the table runs a named subset of the suite, when it does"

    [tool.pyharness]                   # at most three lines, applied with --config: never in their tree
    sources = ["simplejson"]

    [[finding]]                        # every counted finding the trial saw, investigated
    key = "asan/leak.direct msgpack/unpack.h unpack_callback_array"
    verdict = "defect"                 # or "false positive" (fixed in the toolkit: say how)
    evidence = "the line, and why it is undefined behaviour or a leak"

``run`` downloads each sdist once into the cache (``pip download``), checks its
sha256, unpacks it, installs what its tests need into its own virtual environment
(its interpreter is the subject's: ``--python``), builds each tool's variant
(timed), runs the tools' matrix on it as it is (``pyharness matrix --config``)
and then on a copy with the planted defect, which must be found at the planted
``file:line``. Every step goes through the gateway, as a separate pyharness
process, so one project's trouble never stops the others. The outcome is a
``FieldResults`` (``docs/field-results.json`` for this repository);
``render/field.py`` turns it and the definitions into ``docs/FIELD.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyharness import native, proc
from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS
from pyharness.model import Finding, Summary, finding_key
from pyharness.model.field import (
    Definition,
    FieldResults,
    Investigated,
    PlantResult,
    ProjectResult,
    ToolResult,
)
from pyharness.mutants import Mutant, apply
from pyharness.project import Project
from pyharness.project import load as load_project

MAX_TABLE_LINES = 3
STEP_TIMEOUT_S = 3 * 3600.0
_PLANTED = "PLANTED"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: expected a list of strings, got {raw!r}")
    return tuple(raw)


def _table_lines(text: str) -> int:
    """Lines of ``[tool.pyharness]`` (and its sub-tables) that say something."""
    count, inside = 0, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.startswith("[tool.pyharness")
            continue
        if inside and stripped and not stripped.startswith("#"):
            count += 1
    return count


def read(path: Path) -> Definition:
    """A field definition (ConfigError naming the key for anything it cannot use)."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: cannot read it as TOML: {err}") from err
    f = doc.get("field")
    if not isinstance(f, dict):
        raise ConfigError(f"{path}: no [field] table")
    for key in ("name", "version", "sha256", "kind"):
        if not isinstance(f.get(key), str) or not f[key]:
            raise ConfigError(f"{path}: [field] {key} must be a non-empty string")
    if not _SHA256.match(f["sha256"]):
        raise ConfigError(f"{path}: [field] sha256 is not 64 hex digits")
    tools = _strings(f.get("tools", ["asan", "valgrind", "tsan"]), f"{path}: [field] tools")
    plant_tools = _strings(f.get("plant-tools", ["asan"]), f"{path}: [field] plant-tools")
    for tool in (*tools, *plant_tools):
        if tool not in TOOLS:
            raise ConfigError(f"{path}: unknown tool {tool!r}; tools: {', '.join(TOOLS)}")
    lines = _table_lines(text)
    if lines > MAX_TABLE_LINES:
        raise ConfigError(
            f"{path}: [tool.pyharness] says {lines} things; a field project gets {MAX_TABLE_LINES}"
        )
    findings = []
    for i, item in enumerate(doc.get("finding", []), 1):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("key", "verdict", "evidence")
        ):
            raise ConfigError(f"{path}: [[finding]] #{i} needs key, verdict and evidence strings")
        if item["verdict"] not in ("defect", "false positive"):
            raise ConfigError(f"{path}: [[finding]] #{i} verdict must be 'defect' or 'false positive'")
        findings.append(Investigated(item["key"], item["verdict"], item["evidence"]))
    plant = f.get("plant")
    return Definition(
        path=path,
        name=f["name"],
        version=f["version"],
        sha256=f["sha256"],
        kind=f["kind"],
        tools=tools,
        test_requires=_strings(f.get("test-requires", []), f"{path}: [field] test-requires"),
        plant=path.parent / plant if isinstance(plant, str) else None,
        plant_tools=plant_tools,
        subset=str(f.get("subset", "")),
        table_lines=lines,
        findings=tuple(findings),
    )


def definitions(folder: Path, names: Sequence[str] = ()) -> list[Definition]:
    """The definitions in ``folder`` (those named, in order), ConfigError for an unknown name."""
    found = {d.name: d for d in (read(p) for p in sorted(folder.glob("*.toml")))}
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ConfigError(f"no field definition for {', '.join(unknown)} in {folder} ({', '.join(found)})")
    return [found[n] for n in names] if names else list(found.values())


def key_text(finding: Any) -> str | None:
    """``asan/leak.direct msgpack/unpack.h unpack_callback_array``: how a definition names a finding."""
    key = finding_key(finding)
    return None if key is None else f"{key.rule} {key.file} {key.function}"


# -- running ---------------------------------------------------------------------------------


def _launch(argv: Sequence[str], what: str) -> proc.ProcResult:
    return proc.run(
        proc.LaunchSpec(tuple(argv), dict(os.environ), STEP_TIMEOUT_S, label=what), sample_interval=None
    )


def _step(argv: Sequence[str], what: str) -> proc.ProcResult:
    """A step that must succeed (a download, a build, an install): HarnessError with its stderr if not."""
    result = _launch(argv, what)
    if not result.ok:
        raise HarnessError(f"{what} failed ({result.describe()}): {result.stderr_tail[-2000:]}")
    return result


def fetch(d: Definition, cache: Path) -> Path:
    """The sdist, downloaded once into ``cache`` and checked against the definition's sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / d.sdist
    if not path.is_file():
        pip = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
        pip += ["--no-build-isolation", "--disable-pip-version-check", "-d", str(cache)]
        _step([*pip, f"{d.name}=={d.version}"], f"pip download {d.name}=={d.version}")
    if not path.is_file():
        raise HarnessError(f"pip download gave no {d.sdist} in {cache}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != d.sha256:
        raise HarnessError(f"{path}: sha256 {digest}, the definition pins {d.sha256}: not the pinned sdist")
    return path


def unpack(sdist: Path, into: Path) -> Path:
    """The sdist's tree under ``into`` (unpacked once; the tar's one top folder)."""
    with tarfile.open(sdist) as tar:
        tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise HarnessError(f"{sdist} has {len(tops)} top-level entries, expected one folder")
        tree = into / tops.pop()
        if not tree.is_dir():
            into.mkdir(parents=True, exist_ok=True)
            tar.extractall(into, filter="data")
    return tree


def planted_line(tree: Path, plant: Path) -> str:
    """``file:line`` of the line the plant marks ``PLANTED`` (in the patched tree)."""
    for line in plant.read_text(encoding="utf-8").splitlines():
        if line.startswith("+++ b/"):
            target = line.removeprefix("+++ b/").strip()
            for n, text in enumerate((tree / target).read_text(errors="replace").splitlines(), 1):
                if _PLANTED in text:
                    return f"{target}:{n}"
    raise ConfigError(f"{plant}: no line of the files it patches is marked {_PLANTED}")


def _summary(run_dir: Path) -> Summary:
    return Summary.from_json(json.loads((run_dir / "summary.json").read_text(encoding="utf-8")))


def _pyharness(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyharness", *args]


def _on(d: Definition, tree: Path, python: Path) -> tuple[str, ...]:
    """The project, its own interpreter, and its definition's table when it has one (zero config: none)."""
    config = ("--config", str(d.path)) if d.table_lines else ()
    return ("--project", str(tree), "--python", str(python), *config)


def _environment(work: Path, needed: Sequence[str], name: str) -> Path:
    """The project's own virtual environment with what its tests need, its interpreter's path.

    One per project: a suite runs with its own requirements only (contourpy's test extra brings
    pytest-cov, pytest-xdist and pytest-rerunfailures, whose plugins would load into every
    later project's suite in a shared environment)."""
    venv = work / "venv"
    python = venv / "bin" / "python"
    if not python.is_file():
        _step([sys.executable, "-m", "venv", str(venv)], f"python -m venv for {name}")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _step([*pip, "pytest", *needed], f"pip install {name}'s test requirements")
    return python


def _matrix(d: Definition, tree: Path, tool: str, run_dir: Path, python: Path) -> Summary:
    """``pyharness matrix TOOL`` on ``tree`` with the definition's table; its cells fail or err as
    they will (the summary says how), so only a summary that was never written is a problem."""
    shutil.rmtree(run_dir, ignore_errors=True)
    # --fresh: a field run measures; nothing is reused from an earlier one.
    argv = _pyharness(
        "matrix", tool, *_on(d, tree, python), "--run-dir", str(run_dir), "--fresh", "--no-progress"
    )
    result = _launch(argv, f"{d.name} {tool}")
    if not (run_dir / "summary.json").is_file():
        raise HarnessError(
            f"{d.name}: matrix {tool} wrote no report ({result.describe()}): {result.stderr_tail}"
        )
    return _summary(run_dir)


def _places(findings: Sequence[Finding]) -> tuple[str, ...]:
    """The distinct ``file:line`` of the counted findings' project frames, in order."""
    return tuple(dict.fromkeys(f.project_frame.where() for f in findings if f.counts and f.project_frame))


def _tool_results(d: Definition, tree: Path, work: Path, python: Path) -> tuple[ToolResult, ...]:
    out = []
    built: set[str] = set()
    for tool in d.tools:
        variant = TOOLS[tool].variant
        build_s = None
        if variant not in built:  # each variant is built once, from nothing, and timed
            started = time.monotonic()
            _step(_pyharness("build", variant, *_on(d, tree, python)), f"build {variant}")
            build_s = round(time.monotonic() - started, 1)
            built.add(variant)
        for cell in _matrix(d, tree, tool, work / "runs" / "clean" / tool, python).cells:
            counted = [f for f in cell.findings if f.counts]
            keys = list(dict.fromkeys(k for f in counted if (k := key_text(f))))
            out.append(
                ToolResult(
                    tool=tool,
                    build_s=build_s,
                    cell_s=round(cell.duration_s, 1),
                    status=cell.status,
                    reason=cell.reason,
                    tests=cell.tests.tests if cell.tests else None,
                    failed=(cell.tests.failures + cell.tests.errors) if cell.tests else None,
                    counted=tuple(keys),
                    counted_where=tuple(
                        ", ".join(_places([f for f in counted if key_text(f) == k])) for k in keys
                    ),
                    foreign=sum(1 for f in cell.findings if f.project_frame is None) + cell.omitted.foreign,
                    skipped=cell.tests.skipped if cell.tests else None,
                )
            )
            build_s = None
    return tuple(out)


def _plant_results(d: Definition, tree: Path, work: Path, python: Path) -> tuple[PlantResult, ...]:
    if d.plant is None:
        return ()
    planted = work / "planted" / tree.name
    if not planted.is_dir():
        shutil.copytree(tree, planted, ignore=shutil.ignore_patterns("build", "reports"))
        apply(
            Mutant(d.plant.stem, "the field's planted defect", frozenset(d.plant_tools), (), d.plant), planted
        )
    expected = planted_line(planted, d.plant)
    out = []
    for tool in d.plant_tools:
        for cell in _matrix(d, planted, tool, work / "runs" / "planted" / tool, python).cells:
            where = tuple(
                dict.fromkeys(f.project_frame.where() for f in cell.findings if f.counts and f.project_frame)
            )
            out.append(PlantResult(tool, expected, expected in where, where, cell.status, cell.reason))
    return tuple(out)


def _dependencies(tree: Path) -> list[str]:
    doc = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    deps = doc.get("project", {}).get("dependencies", [])
    return [str(r) for r in deps if isinstance(r, str)]


def _names_itself(requirement: str, name: str) -> bool:
    """``contourpy[test-no-images]`` in contourpy's own test extra: installing it would put a
    wheel from PyPI beside the staged variant."""
    head = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return head.lower().replace("_", "-") == name.lower().replace("_", "-")


def run_one(d: Definition, work: Path, cache: Path) -> ProjectResult:
    base = ProjectResult(d.name, d.version, d.kind, d.sha256, d.table_lines, d.subset)
    try:
        tree = unpack(fetch(d, cache), work / "src")
        project = load_project(tree, search=False, config=d.path if d.table_lines else None)
        # What its tests import: its runtime dependencies and its test requirements, never itself
        # (the variant under test is the staged one).
        needed = [*_dependencies(tree), *project.test_requires, *d.test_requires]
        needed = [r for r in needed if not _names_itself(r, d.name)]
        python = _environment(work, needed, d.name)
        return replace(
            base, tools=_tool_results(d, tree, work, python), plant=_plant_results(d, tree, work, python)
        )
    except HarnessError as err:
        return replace(base, problem=str(err))


def run(
    project: Project, names: Sequence[str] = (), *, work: Path | None = None, fresh: bool = False
) -> FieldResults:
    """Every (or every named) field project of ``project``'s field folder, one after another.

    ``fresh``: unpack and build from nothing (the build times then mean what they say).
    """
    if project.field is None:
        raise ConfigError(f"{project.name} names no field folder: [tool.pyharness] field = 'field'")
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), time.monotonic()
    work = work or native.cache_dir() / "field"
    chosen = definitions(project.field, names)
    if fresh:
        for d in chosen:
            shutil.rmtree(work / f"{d.name}-{d.version}", ignore_errors=True)
    results = []
    for d in chosen:
        print(f"field: {d.name} {d.version} ({d.kind})", file=sys.stderr, flush=True)
        began = time.monotonic()
        one = run_one(d, work / f"{d.name}-{d.version}", native.cache_dir() / "sdists")
        results.append(replace(one, seconds=round(time.monotonic() - began, 1)))
    return FieldResults(started, round(time.monotonic() - t0, 1), tuple(results))


__all__ = ["Definition", "FieldResults", "ProjectResult", "definitions", "read", "run"]
