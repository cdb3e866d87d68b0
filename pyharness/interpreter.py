"""The subject's Python interpreter, and what it says about itself when asked.

The interpreter that builds a variant and runs the subject may be another
than the orchestrator's (``--python PATH``, ``[tool.pyharness] python``): a
free-threaded or TSan-built CPython, another virtual environment. Whatever it
has installed, and how it would resolve an import, is asked of it, through
the gateway, by one small script (``ASK``, standard library only) that
imports nothing it is asked about: for distribution names, their installed
versions and the interpreter's marker environment (so requirements are
evaluated for it, not for the orchestrator); for module names, the spec each
would get from ``sys.meta_path`` as the subject would start (the import hook
included), walked from the top-level package down without running any
module's code (an ASan-built extension cannot even be loaded without its
runtime preloaded).

A virtual environment's ``bin/python`` is a symlink to its base interpreter;
the path is kept as given, never resolved, which would lose the environment.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pyharness import proc
from pyharness.errors import ConfigError, SubjectError

ASK_TIMEOUT_S = 60.0
_PYTHON_NAMES = ("python", "python3", f"python3.{sys.version_info.minor}")

# argv[1]: a JSON object {"names": [...], "modules": [...], "path0": str | null}; prints one JSON line.
ASK = r"""
import json, os, platform, sys
q = json.loads(sys.argv[1])
out = {"executable": sys.executable, "prefix": sys.prefix, "version": list(sys.version_info[:3]),
       "hook": any(type(f).__name__ == "StageFinder" for f in sys.meta_path),
       "path0": sys.path[0] if sys.path else None, "flags": {"safe_path": getattr(sys.flags, "safe_path", 0),
       "no_site": sys.flags.no_site, "ignore_environment": sys.flags.ignore_environment,
       "isolated": sys.flags.isolated}}
if q.get("path0") is not None and sys.path and sys.path[0] in ("", os.getcwd()):
    sys.path[0] = q["path0"]
def _v(info):
    v = "%d.%d.%d" % info[:3]
    return v if info[3] == "final" else v + info[3][0] + str(info[4])
out["markers"] = {"implementation_name": sys.implementation.name,
    "implementation_version": _v(sys.implementation.version), "os_name": os.name,
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform}
versions = {}
if q["names"]:
    import importlib.metadata as md
    for name in q["names"]:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
out["versions"] = versions
def _spec(name, path):
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is not None:
            spec = find(name, path, None)
            if spec is not None:
                return spec
    return None
modules = {}
for name in q["modules"]:
    parts, path, got = name.split("."), None, {"origin": None, "missing": None, "parent": None}
    for i in range(len(parts)):
        sub = ".".join(parts[:i + 1])
        spec = _spec(sub, path)
        if spec is None:
            got["missing"] = sub
            break
        if i == 0:
            got["parent"] = spec.origin or (list(spec.submodule_search_locations or []) or [None])[0]
        if i < len(parts) - 1:
            path = list(spec.submodule_search_locations or [])
        else:
            got["origin"] = spec.origin
    modules[name] = got
out["modules"] = modules
print("\n" + json.dumps(out))
"""


@dataclass(frozen=True)
class Resolution:
    """Where an import would come from: the file, or the first name nothing found."""

    origin: str | None
    missing: str | None = None  # the first (sub)package or module no finder found
    top: str | None = None  # where the top-level package was found (its __init__ or folder)


@dataclass(frozen=True)
class Answer:
    """What an interpreter said about itself (``ask``)."""

    executable: str
    prefix: str
    version: tuple[int, ...]
    hook: bool  # pyharness's import hook is on its sys.meta_path
    path0: str | None  # sys.path[0] as it started (the -c form: "" is the working directory)
    flags: Mapping[str, int]
    markers: Mapping[str, str]
    versions: Mapping[str, str | None] = field(default_factory=dict)
    modules: Mapping[str, Resolution] = field(default_factory=dict)

    def missing(self, requires: Iterable[str], *, skip: Iterable[str] = ()) -> list[str]:
        """The requirements (as written) this interpreter does not satisfy; ``skip``: names not asked."""
        skipped = {canonicalize_name(s) for s in skip}
        out = []
        for text in requires:
            req = parse(text)
            if canonicalize_name(req.name) in skipped:
                continue
            if req.marker is not None and not _evaluate(req.marker, self.markers):
                continue
            version = self.versions.get(req.name)
            if version is None or (req.specifier and not req.specifier.contains(version, prereleases=True)):
                out.append(text)
        return out


def _evaluate(marker: Marker, environment: Mapping[str, str]) -> bool:
    env = {**environment, "extra": ""}
    return bool(marker.evaluate(env))


def parse(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as err:
        raise ConfigError(f"{text!r} is not a requirement: {err}") from err


def names_of(requires: Iterable[str]) -> list[str]:
    return sorted({parse(text).name for text in requires})


def is_python(name: str) -> bool:
    """``python``, ``python3``, ``python3.11``: what a command's ``python`` means (the subject's)."""
    return name in _PYTHON_NAMES


def ask(
    python: str,
    env: Mapping[str, str],
    *,
    names: Sequence[str] = (),
    modules: Sequence[str] = (),
    options: Sequence[str] = (),
    cwd: Path | None = None,
    path0: str | None = None,
) -> Answer:
    """Run ``ASK`` with ``python [options]`` in ``cwd`` and ``env``; SubjectError when it cannot answer."""
    query = json.dumps({"names": list(names), "modules": list(modules), "path0": path0})
    spec = proc.LaunchSpec(
        (python, *options, "-c", ASK, query),
        {k: v for k, v in env.items() if k != "LD_PRELOAD"},  # never under a tool
        ASK_TIMEOUT_S,
        cwd=cwd,
        label=f"ask {os.path.basename(python)}",
    )
    result = proc.run(spec, sample_interval=None)
    lines = result.stdout.strip().splitlines()
    if not result.ok or not lines:
        raise SubjectError(
            f"the subject's interpreter {python} could not answer ({result.describe()}): "
            f"{result.stderr_tail.strip()[-800:]}"
        )
    try:
        doc = json.loads(lines[-1])
    except ValueError as err:
        raise SubjectError(f"the subject's interpreter {python} answered {lines[-1][:200]!r}") from err
    return Answer(
        executable=str(doc["executable"]),
        prefix=str(doc["prefix"]),
        version=tuple(int(v) for v in doc["version"]),
        hook=bool(doc["hook"]),
        path0=doc.get("path0"),
        flags={k: int(v) for k, v in doc.get("flags", {}).items()},
        markers={k: str(v) for k, v in doc["markers"].items()},
        versions=dict(doc.get("versions", {})),
        modules={
            k: Resolution(v.get("origin"), v.get("missing"), v.get("parent"))
            for k, v in doc.get("modules", {}).items()
        },
    )
