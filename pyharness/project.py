"""The project under test: its ``[tool.pyharness]`` table, found and validated once.

A project is a directory with a ``pyproject.toml``. ``find`` walks up from a
directory (the current one by default) to the first ``pyproject.toml``, as
pytest and ruff find theirs; ``load`` reads its ``[tool.pyharness]`` table and
returns a ``Project``. With no table the defaults serve a typical extension
project: the root is the source tree for attribution, the build backend is
taken from ``[build-system]``, and the one workload is the project's pytest
suite. Every key is checked here: a bad table is a ``ConfigError`` naming the
key, what it got and what it accepts, before anything is built or run.

The keys (all optional)::

    [tool.pyharness]
    sources = ["src", "csrc"]        # attribution: frames with a file under these count
    modules = ["_mylib"]             # extension objects whose file-less frames count
    namespaces = ["mylib::"]         # C++ namespaces whose file- and object-less frames count
    suppressions = "suppressions"    # folder of lsan.supp / ubsan.supp / valgrind.supp / tsan.supp
    known-findings = "known-findings.toml"  # findings accepted with a reason (pyharness accept)
    field = "field"                  # folder of field definitions (see pyharness.field)
    build = "meson-python"           # or "setuptools", "scikit-build-core", or "none" (you build it)
    setup-args = ["-Dx={variant}"]   # meson-python: added to every variant ({variant} expands)
    python = ".venv-ft/bin/python"   # the subject's interpreter (default: the orchestrator's)
    build-env = { FOO = "1" }        # added to the environment of every build
    tools = ["asan", "valgrind"]     # the matrix's tools (default: every tool)
    matrix = ["pytest"]              # the matrix's workloads (default: every workload)
    baselines = "baselines"          # folder of <platform>.json baselines files
    selftest = "pkg.mod:PLAN"        # the self-test's plan (see pyharness.selftest)
    mutants = "mutants"              # folder of mutant patches (see pyharness.mutants)
    sweep-baselines = ["connections"]  # workloads `pyharness baseline` also measures at the sweep preset
    baseline-probes = ["pkg.mod:fn"]   # extra measurements for the baselines (see pyharness.calibrate)

    [tool.pyharness.variants.asan]   # override (or add) a variant's build recipe
    setup-args = ["-Db_sanitize=address,undefined"]   # meson-python
    env = { CFLAGS = "-fsanitize=address" }            # setuptools and scikit-build-core

The build backends (``build``; default from ``[build-system] build-backend``):
``meson-python`` (``mesonpy``: the variant's meson options), ``setuptools``
(``setuptools.build_meta``: the variant's ``CFLAGS``/``CXXFLAGS``/``LDFLAGS``),
``scikit-build-core`` (``scikit_build_core.build``: the same flags as CMake
definitions), ``none`` (you build the extension; nothing is built). A Cython
project builds through setuptools or meson-python. See ``pyharness.build``.

Test dependencies, named before a pytest cell runs when the subject's
interpreter lacks them: ``[project.optional-dependencies]`` ``test`` or
``tests``, and ``[dependency-groups]`` ``test`` or ``tests`` (PEP 735).

    [tool.pyharness.workloads.pytest]
    command = ["python", "-m", "pytest", "-q"]   # or: scenario = "pkg.mod:NAME"
    args = []  env = {}  cwd = "."  tools = [...]  description = "..."
    expected = { quick = 60, sweep = 600 }      # native seconds (the cell's time limit follows)
    sizes = { valgrind = { env = { SCALE = "0.1" }, expected = 20 }, sweep = { args = ["--sweep"] } }
    gated = { rss = ["rss_peak"], heaptrack = ["allocation_calls"] }
    parallel-threads = 4   # a pytest workload under tsan: each test in 4 threads at once
                           # (pytest-run-parallel; its thread_unsafe marks are honoured)
    requires = ["pytest", "hypothesis"]   # what this command needs, in place of the project's
                                          # test extra and group (a part of the suite needs less)
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from packaging.requirements import InvalidRequirement, Requirement

from pyharness.errors import ConfigError
from pyharness.matrix import DIRECTIONS, TOOLS, VARIANTS, Gated, Variant

PYPROJECT = "pyproject.toml"
TABLE = "tool.pyharness"

BuildBackend = Literal["meson-python", "setuptools", "scikit-build-core", "none"]
BUILD_BACKENDS: tuple[BuildBackend, ...] = get_args(BuildBackend)
# [build-system] build-backend -> our backend, for projects that do not say.
_BACKENDS_BY_PEP517 = {
    "mesonpy": "meson-python",
    "setuptools.build_meta": "setuptools",
    "setuptools.build_meta:__legacy__": "setuptools",
    "scikit_build_core.build": "scikit-build-core",
}
TEST_EXTRAS = ("test", "tests")  # [project.optional-dependencies] and [dependency-groups] names
PRESETS = ("quick", "sweep")
KNOWN_FINDINGS_FILE = "known-findings.toml"
DEFAULT_WORKLOAD = "pytest"
DEFAULT_PYTEST = ("python", "-m", "pytest", "-q")
# A command workload's expected native duration when the table does not say (seconds).
DEFAULT_EXPECTED_S: Mapping[str, float] = {"quick": 120.0, "sweep": 1200.0}
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_WORKLOAD_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Size:
    """Options and environment a workload gets under one tool or preset."""

    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # What the workload takes natively at this size, in seconds (None: the workload's own
    # expectation for the preset); the cell's expected duration is this times the tool's slowdown.
    expected_s: float | None = None


@dataclass(frozen=True)
class Workload:
    """What a cell's subject does: a command, or a scenario run by ``pyharness scenario``."""

    id: str
    description: str
    command: tuple[str, ...] | None = None  # exactly one of command and scenario
    scenario: str | None = None  # "package.module:NAME", a pyharness.scenario.Scenario
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "."  # relative to the project root
    tools: tuple[str, ...] | None = None  # None: every tool
    expected_s: Mapping[str, float] = field(default_factory=dict)  # only what the table says
    sizes: Mapping[str, Size] = field(default_factory=dict)  # "<tool>", "sweep", "sweep.<tool>"
    gated: Mapping[str, tuple[Gated, ...]] = field(default_factory=dict)  # tool -> metrics
    # Under tsan, each test of a pytest command run in this many threads at once
    # (pytest-run-parallel): races between two Python threads calling the extension.
    parallel_threads: int | None = None
    # What a pytest command needs, when it is not the project's whole test extra and group
    # (None: those). Named by the preflight when the subject's interpreter lacks them.
    requires: tuple[str, ...] | None = None

    def runs_under(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools


@dataclass(frozen=True)
class Attribution:
    """Which frames are the project's own code (see ``pyharness.attribution``)."""

    sources: tuple[str, ...] = (".",)  # relative to the root
    modules: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class Project:
    """One project's model: where it is, how to build it, what to run, what is its own code."""

    root: Path
    name: str
    build: BuildBackend
    attribution: Attribution
    variants: Mapping[str, Variant]
    workloads: Mapping[str, Workload]
    tools: tuple[str, ...]
    matrix: tuple[str, ...]  # workload ids of the matrix, in order
    suppressions: Path | None
    baselines: Path
    setup_args: tuple[str, ...] = ()
    build_env: Mapping[str, str] = field(default_factory=dict)
    selftest: str | None = None
    mutants: Path | None = None
    configured: bool = False  # False when the pyproject has no [tool.pyharness] table
    sweep_baselines: tuple[str, ...] = ()
    baseline_probes: tuple[str, ...] = ()
    build_requires: tuple[str, ...] = ()  # [build-system] requires
    known_findings: Path | None = None  # the known-findings file (None: <root>/known-findings.toml)
    field: Path | None = None  # the folder of field definitions (pyharness field)

    pep517_backend: str = ""  # [build-system] build-backend, as written
    backend_path: tuple[str, ...] = ()  # [build-system] backend-path
    test_requires: tuple[str, ...] = ()  # the test extra's and the test group's requirements
    python: str | None = None  # the subject's interpreter (None: the orchestrator's)

    @property
    def known_path(self) -> Path:
        return self.known_findings or self.root / KNOWN_FINDINGS_FILE

    @property
    def interpreter(self) -> str:
        """The interpreter that builds the variants and runs the subject."""
        return self.python or sys.executable

    def workload(self, workload_id: str) -> Workload:
        try:
            return self.workloads[workload_id]
        except KeyError:
            raise ConfigError(
                f"unknown workload {workload_id!r} in {self.root / PYPROJECT}; "
                f"choose from {', '.join(self.workloads)}"
            ) from None

    def variant(self, variant_id: str) -> Variant:
        try:
            return self.variants[variant_id]
        except KeyError:
            raise ConfigError(
                f"unknown variant {variant_id!r}; choose from {', '.join(self.variants)}"
            ) from None


def find(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding a pyproject.toml (ConfigError if none)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PYPROJECT).is_file():
            return directory
    raise ConfigError(
        f"no {PYPROJECT} in {here} or any directory above it: run pyharness inside a project, "
        "or name one with --project DIR"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"no {path.name} in {path.parent}") from err
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it as TOML: {err}") from err


def load(root: Path | None = None, *, search: bool = True, config: Path | None = None) -> Project:
    """The project at ``root`` (or found by walking up from the current directory).

    ``config`` is a TOML file whose ``[tool.pyharness]`` keys replace the project's own
    (a project tried as it is, with the table kept elsewhere: ``pyharness matrix --config``).
    """
    directory = find(root) if search else (root or Path.cwd()).resolve()
    doc = _read_toml(directory / PYPROJECT)
    if config is not None:
        extra = _read_toml(config).get("tool", {}).get("pyharness")
        if not isinstance(extra, dict):
            raise ConfigError(f"{config}: no [tool.pyharness] table to apply to {directory}")
        tool = dict(doc.get("tool", {}))
        tool["pyharness"] = {**tool.get("pyharness", {}), **extra}
        doc = {**doc, "tool": tool}
    return from_table(directory, doc)


def from_table(root: Path, doc: Mapping[str, Any]) -> Project:
    """The project described by the decoded pyproject ``doc`` of the project at ``root``."""
    table = doc.get("tool", {}).get("pyharness")
    configured = table is not None
    t = _Table(root / PYPROJECT, TABLE, table if configured else {})
    t.check_keys(
        "sources", "modules", "namespaces", "suppressions", "build", "setup-args", "build-env", "tools",
        "matrix", "baselines", "selftest", "mutants", "variants", "workloads", "sweep-baselines",
        "baseline-probes", "known-findings", "field", "python",
    )  # fmt: skip
    build_system = doc.get("build-system", {})
    name = str(doc.get("project", {}).get("name") or root.name)
    backend = t.choice("build", BUILD_BACKENDS, default=_backend_of(build_system))
    attribution = Attribution(
        sources=tuple(_source_dir(t, s) for s in t.strings("sources", default=(".",))),
        modules=t.strings("modules", default=()),
        namespaces=t.strings("namespaces", default=()),
    )
    variants = _variants(t)
    workloads = _workloads(t)
    selftest = t.entries("selftest", default=None)
    mutants = t.string("mutants", default=None)
    return Project(
        root=root,
        name=name,
        build=backend,
        attribution=attribution,
        variants=variants,
        workloads=workloads,
        tools=t.members("tools", TOOLS, default=tuple(TOOLS), what="tool"),
        matrix=t.members("matrix", workloads, default=tuple(workloads), what="workload"),
        suppressions=_suppression_dir(t, root),
        baselines=root / t.string("baselines", default="baselines"),
        setup_args=t.strings("setup-args", default=()),
        build_env=t.string_table("build-env"),
        selftest=selftest[0] if selftest else None,
        mutants=root / mutants if mutants is not None else None,
        configured=configured,
        sweep_baselines=t.members("sweep-baselines", workloads, default=(), what="workload"),
        baseline_probes=t.entries("baseline-probes", default=()),
        build_requires=tuple(str(r) for r in build_system.get("requires", ()) if isinstance(r, str)),
        known_findings=root / t.string("known-findings", default=KNOWN_FINDINGS_FILE),
        field=root / field_dir if (field_dir := t.string("field", default=None)) else None,
        pep517_backend=str(build_system.get("build-backend", "")),
        backend_path=tuple(str(p) for p in build_system.get("backend-path", ()) if isinstance(p, str)),
        test_requires=test_requirements(doc),
        python=_python(t, root),
    )


def test_requirements(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The requirements of the ``test``/``tests`` extra and dependency group (includes resolved).

    An extra that names the project itself (``contourpy[test-no-images]`` in contourpy's
    ``test``) brings that extra's requirements, as pip reads it, never the project: the
    variant under test is the staged one, not a wheel from the index.
    """
    out: list[str] = []
    extras = doc.get("project", {}).get("optional-dependencies", {})
    groups = doc.get("dependency-groups", {})
    name = str(doc.get("project", {}).get("name", ""))
    for wanted in TEST_EXTRAS:
        out.extend(_extra(extras, wanted, name, ()))
        out.extend(_group(groups, wanted, ()))
    return tuple(dict.fromkeys(out))


_SELF = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _extra(extras: Mapping[str, Any], wanted: str, project: str, seen: tuple[str, ...]) -> list[str]:
    if wanted in seen or not isinstance(extras.get(wanted), list):
        return []
    out: list[str] = []
    for item in extras[wanted]:
        if not isinstance(item, str):
            continue
        match = _SELF.match(item)
        if match and project and _normal(match.group(1)) == _normal(project):
            for inner in (match.group(2) or "").split(","):
                out.extend(_extra(extras, inner.strip(), project, (*seen, wanted)))
        else:
            out.append(item)
    return out


def _group(groups: Mapping[str, Any], name: str, seen: tuple[str, ...]) -> list[str]:
    if name in seen or not isinstance(groups.get(name), list):
        return []
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out.extend(_group(groups, item["include-group"], (*seen, name)))
    return out


def resolve_python(text: str, base: Path) -> str:
    """An interpreter named by a path (relative to ``base``) or a command on PATH, made absolute
    but not resolved (a virtual environment's ``bin/python`` is a symlink; following it loses
    the environment). ConfigError when it is not an executable file."""
    candidate = Path(text).expanduser()
    if not candidate.is_absolute() and os.sep not in text:
        found = shutil.which(text)
        candidate = Path(found) if found else base / candidate
    elif not candidate.is_absolute():
        candidate = base / candidate
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise ConfigError(f"no Python interpreter at {candidate} (from {text!r})")
    return os.path.abspath(candidate)


def with_python(project: Project, text: str | None, base: Path | None = None) -> Project:
    """``project`` with its subject interpreter replaced (``--python``); unchanged for None."""
    if text is None:
        return project
    return replace(project, python=resolve_python(text, base or Path.cwd()))


def _python(t: _Table, root: Path) -> str | None:
    text = t.string("python", default=None)
    if text is None:
        return None
    try:
        return resolve_python(text, root)
    except ConfigError as err:
        return t.fail("python", repr(text), f"a Python interpreter's path or command ({err})")  # type: ignore[no-any-return]


def _suppression_dir(t: _Table, root: Path) -> Path | None:
    """The project's suppressions folder: the one the table names (it must exist), else
    ``suppressions/`` when there is one."""
    named = t.string("suppressions", default=None)
    folder = root / (named or "suppressions")
    if named is not None and not folder.is_dir():
        t.fail(
            "suppressions",
            f"no folder {folder}",
            "a folder of lsan.supp, ubsan.supp, valgrind.supp, tsan.supp",
        )
    return folder if folder.is_dir() else None


def _backend_of(build_system: Mapping[str, Any]) -> BuildBackend:
    backend = str(build_system.get("build-backend", ""))
    found = _BACKENDS_BY_PEP517.get(backend)
    if found is not None:
        return found  # type: ignore[return-value]
    # Not a backend we drive: it builds the extension through pip like setuptools would
    # not, so say so only when a build is asked for (see pyharness.build).
    return "setuptools" if not backend else "none"


def _source_dir(t: _Table, text: str) -> str:
    parts = [p for p in Path(text).parts if p not in ("", ".")]
    if Path(text).is_absolute() or ".." in parts:
        t.fail("sources", f"{text!r}", "folders inside the project, relative to its root")
    return "/".join(parts) or "."


def _variants(t: _Table) -> dict[str, Variant]:
    variants = dict(VARIANTS)
    raw = t.table("variants")
    for variant_id, body in raw.items():
        v = _Table(t.path, f"{t.name}.variants.{variant_id}", _as_table(t, f"variants.{variant_id}", body))
        v.check_keys("setup-args", "env", "description")
        base = variants.get(variant_id)
        if base is None and not _WORKLOAD_ID.match(variant_id):
            t.fail(f"variants.{variant_id}", "a bad variant id", "lower-case letters, digits, - and _")
        setup = v.strings("setup-args", default=None)
        env = v.string_table("env") if "env" in v.data else None
        description = v.string("description", default=None)
        if base is None:
            variants[variant_id] = Variant(
                variant_id, setup or (), description or "project-defined variant", env_flags=env or {}
            )
        else:
            variants[variant_id] = replace(
                base,
                meson_args=base.meson_args if setup is None else setup,
                env_flags=base.env_flags if env is None else env,
                description=description or base.description,
            )
    return variants


def _workloads(t: _Table) -> dict[str, Workload]:
    raw = t.table("workloads")
    if not raw:
        return {
            DEFAULT_WORKLOAD: Workload(DEFAULT_WORKLOAD, "the project's pytest suite", command=DEFAULT_PYTEST)
        }
    return {wid: _workload(t, wid, body) for wid, body in raw.items()}


def _workload(t: _Table, wid: str, body: Any) -> Workload:
    key = f"workloads.{wid}"
    if not _WORKLOAD_ID.match(wid):
        t.fail(key, "a bad workload id", "lower-case letters, digits, - and _, starting with a letter")
    w = _Table(t.path, f"{t.name}.{key}", _as_table(t, key, body))
    w.check_keys(
        "command", "scenario", "description", "args", "env", "cwd", "tools", "expected", "sizes", "gated",
        "parallel-threads", "requires",
    )  # fmt: skip
    command = w.strings("command", default=None)
    scenario = w.entries("scenario", default=None)
    if (command is None) == (scenario is None):
        t.fail(key, "both or neither of 'command' and 'scenario'", "exactly one of them")
    if command is not None and not command:
        w.fail("command", "an empty list", "a command line, e.g. ['python', '-m', 'pytest']")
    return Workload(
        id=wid,
        description=w.string("description", default=None) or (" ".join(command) if command else ""),
        command=command,
        scenario=scenario[0] if scenario else None,
        args=w.strings("args", default=()),
        env=w.string_table("env"),
        cwd=w.string("cwd", default="."),
        tools=w.members("tools", TOOLS, default=None, what="tool") if "tools" in w.data else None,
        expected_s=_expected(w),
        sizes={size_key: _size(w, size_key, size_body) for size_key, size_body in w.table("sizes").items()},
        gated=_gated_metrics(w),
        parallel_threads=_parallel_threads(w, command is not None),
        requires=_requirements(w),
    )


def _seconds(t: _Table, key: str, value: Any, accepts: str = "a positive number of seconds") -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        t.fail(key, repr(value), accepts)
    return float(value)


def _expected(w: _Table) -> dict[str, float]:
    """``expected = { quick = 60, sweep = 600 }``: native seconds per preset."""
    out = {}
    for preset, seconds in w.table("expected").items():
        if preset not in PRESETS:
            w.fail(
                f"expected.{preset}", repr(seconds), f"seconds (a number) for a preset: {', '.join(PRESETS)}"
            )
        out[preset] = _seconds(w, f"expected.{preset}", seconds)
    return out


def _size(w: _Table, size_key: str, body: Any) -> Size:
    """One of ``sizes``: a tool id, ``sweep`` or ``sweep.<tool>``."""
    tool = size_key.removeprefix("sweep.")
    if size_key != "sweep" and tool not in TOOLS:
        w.fail(
            f"sizes.{size_key}",
            "an unknown key",
            f"a tool id, 'sweep' or 'sweep.<tool>' ({', '.join(TOOLS)})",
        )
    s = _Table(w.path, f"{w.name}.sizes.{size_key}", _as_table(w, f"sizes.{size_key}", body))
    s.check_keys("args", "env", "expected")
    expected = s.data.get("expected")
    return Size(
        s.strings("args", default=()),
        s.string_table("env"),
        _seconds(s, "expected", expected) if expected is not None else None,
    )


def _gated_metrics(w: _Table) -> dict[str, tuple[Gated, ...]]:
    """``gated = { rss = ["rss_peak"] }``: tool id -> the metrics its cells gate."""
    gated: dict[str, tuple[Gated, ...]] = {}
    for tool, names in w.table("gated").items():
        if tool not in TOOLS:
            w.fail(
                f"gated.{tool}", "an unknown tool", f"a table of tool id -> metric names ({', '.join(TOOLS)})"
            )
        gated[tool] = tuple(_gated(w, f"gated.{tool}", n) for n in _as_strings(w, f"gated.{tool}", names))
    return gated


def _parallel_threads(w: _Table, is_command: bool) -> int | None:
    threads = w.data.get("parallel-threads")
    if threads is not None and (
        not isinstance(threads, int) or isinstance(threads, bool) or threads < 2 or not is_command
    ):
        w.fail(
            "parallel-threads",
            repr(threads) if is_command else "a scenario workload",
            "a whole number of threads, 2 or more, for a command (pytest) workload",
        )
    return threads


def _requirements(w: _Table) -> tuple[str, ...] | None:
    """``requires = ["pytest", "hypothesis>=6"]``: each one a PEP 508 requirement."""
    texts: tuple[str, ...] | None = w.strings("requires", default=None)
    for text in texts or ():
        try:
            Requirement(text)
        except InvalidRequirement as err:
            w.fail("requires", repr(text), f"PEP 508 requirements, e.g. 'pytest>=8' ({err})")
    return texts


def _gated(t: _Table, key: str, text: str) -> Gated:
    name, _, direction = text.partition(":")
    if direction and direction not in DIRECTIONS:
        t.fail(
            key, f"{text!r}", f"'metric' or 'metric:direction' with direction one of {', '.join(DIRECTIONS)}"
        )
    return Gated(name, direction or "lower-is-better")  # type: ignore[arg-type]


def resolve_entry(entry: str, root: Path | None = None) -> Any:
    """The object an import path ``package.module:NAME`` names (ConfigError when it does not resolve).

    ``root``, the project's directory, is searched last: a project's own scenarios, probes
    and self-test plans live beside its sources, importable without its build.
    """
    if root is not None and str(root) not in sys.path:
        sys.path.append(str(root))
    module_name, _, attr = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import {module_name!r} (from {entry!r}): {err}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{module_name} has no {attr!r} (from {entry!r})") from None


# -- reading the table, with errors that name the key ------------------------


def _as_table(t: _Table, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        t.fail(key, f"a {type(value).__name__}", "a table")
    body: dict[str, Any] = value
    return body


def _as_strings(t: _Table, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        t.fail(key, repr(value), "a list of strings")
    return tuple(value)


@dataclass
class _Table:
    path: Path
    name: str
    data: Mapping[str, Any]

    def fail(self, key: str, got: str, accepts: str) -> Any:
        raise ConfigError(f"{self.path}: [{self.name}] {key}: got {got}; expected {accepts}")

    def check_keys(self, *known: str) -> None:
        unknown = sorted(set(self.data) - set(known))
        if unknown:
            self.fail(unknown[0], "an unknown key", f"one of {', '.join(known)}")

    def strings(self, key: str, *, default: Any) -> Any:
        if key not in self.data:
            return default
        return _as_strings(self, key, self.data[key])

    def members(self, key: str, allowed: Iterable[str], *, default: Any, what: str) -> tuple[str, ...]:
        """A list of ``allowed`` ids (tools, workloads), each checked."""
        known = list(allowed)
        values: tuple[str, ...] = self.strings(key, default=default)
        for value in values:
            if value not in known:
                self.fail(key, f"unknown {what} {value!r}", f"{what}s: {', '.join(known)}")
        return values

    def entries(self, key: str, *, default: Any) -> Any:
        """Import paths ``package.module:NAME``: one (a string) or several (a list), each checked."""
        if key not in self.data:
            return default
        one = isinstance(self.data[key], str)
        values = (self.string(key, default=None),) if one else self.strings(key, default=default)
        for entry in values:
            if not _ENTRY.match(entry):
                self.fail(key, f"{entry!r}", "an import path 'package.module:NAME'")
        return values

    def string(self, key: str, *, default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value:
            self.fail(key, repr(value), "a non-empty string")
        return value

    def table(self, key: str) -> dict[str, Any]:
        if key not in self.data:
            return {}
        body: dict[str, Any] = _as_table(self, key, self.data[key])
        return body

    def string_table(self, key: str) -> dict[str, str]:
        body = self.table(key)
        for k, v in body.items():
            if not isinstance(v, str):
                self.fail(f"{key}.{k}", repr(v), "a string (environment values are strings)")
        return dict(body)

    def choice(self, key: str, choices: Sequence[str], *, default: Any) -> Any:
        value = self.string(key, default=default)
        if value not in choices:
            self.fail(key, repr(value), f"one of {', '.join(choices)}")
        return value
