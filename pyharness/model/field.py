"""The field trial's data: a project's definition as read, and what each tool found on it.

``pyharness.field`` reads the definitions and runs the trial; ``render/field.py``
writes ``docs/FIELD.md`` from these; ``FieldResults`` is what
``docs/field-results.json`` holds (``to_json``/``from_json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyharness.errors import ConfigError

SCHEMA = "pyharness.field/1"


@dataclass(frozen=True)
class Investigated:
    """A counted finding the trial saw, and what it is: a defect of theirs, or a false positive of ours."""

    key: str  # "tool/kind file function"
    verdict: str  # "defect" or "false positive"
    evidence: str


@dataclass(frozen=True)
class Definition:
    """One field project, as its definition file says."""

    path: Path
    name: str
    version: str
    sha256: str
    kind: str
    tools: tuple[str, ...]
    test_requires: tuple[str, ...]
    plant: Path | None
    plant_tools: tuple[str, ...]
    subset: str
    table_lines: int
    findings: tuple[Investigated, ...]

    @property
    def sdist(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.tar.gz"


@dataclass(frozen=True)
class ToolResult:
    """One tool on one project, as it is."""

    tool: str
    build_s: float | None  # the tool's variant, built from nothing
    cell_s: float
    status: str
    reason: str
    tests: int | None
    failed: int | None
    counted: tuple[str, ...]  # key_text of each counted finding (distinct)
    counted_where: tuple[str, ...]  # the file:line places of each, one entry per key ("a:1, a:7")
    foreign: int
    skipped: int | None = None


@dataclass(frozen=True)
class PlantResult:
    """The planted defect under one tool: found at the planted line, or not."""

    tool: str
    expected: str  # file:line
    found: bool
    where: tuple[str, ...]  # file:line of the counted findings
    status: str
    reason: str


@dataclass(frozen=True)
class ProjectResult:
    name: str
    version: str
    kind: str
    sha256: str
    table_lines: int
    subset: str
    tools: tuple[ToolResult, ...] = ()
    plant: tuple[PlantResult, ...] = ()
    problem: str | None = None  # a step that failed before any cell (download, checksum, unpack)
    seconds: float | None = None  # this project's whole trial, wall clock


def merged(old: FieldResults, new: FieldResults) -> FieldResults:
    """``old`` with the projects ``new`` ran replaced by theirs (a re-run of some projects):
    its start is the earlier one, its time the sum of every project's own."""
    ran = {p.name for p in new.projects}
    projects = (*(p for p in old.projects if p.name not in ran), *new.projects)
    seconds = sum(p.seconds or 0.0 for p in projects) or old.seconds + new.seconds
    return FieldResults(min(old.started, new.started), round(seconds, 1), tuple(projects))


@dataclass(frozen=True)
class FieldResults:
    started: str
    seconds: float
    projects: tuple[ProjectResult, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FieldResults:
        if d.get("schema") != SCHEMA:
            raise ConfigError(f"not a {SCHEMA} document (schema {d.get('schema')!r})")
        projects = []
        for p in d["projects"]:
            tools = tuple(
                ToolResult(
                    **{**t, "counted": tuple(t["counted"]), "counted_where": tuple(t["counted_where"])}
                )
                for t in p.get("tools", [])
            )
            plant = tuple(PlantResult(**{**x, "where": tuple(x["where"])}) for x in p.get("plant", []))
            rest = {k: v for k, v in p.items() if k not in ("tools", "plant")}
            projects.append(ProjectResult(**rest, tools=tools, plant=plant))
        return cls(d["started"], float(d["seconds"]), tuple(projects))
