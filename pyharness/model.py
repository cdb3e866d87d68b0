"""The format-neutral data model shared by runners, parsers, collector and renderers.

Everything here is a frozen dataclass with a ``to_json``/``from_json`` pair, so a
cell report written by one process (the orchestrator) can be read back by
another (the collector) without loss. The JSON shape is the contract of
DESIGN section 7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA = "pyharness.cell/1"
SUMMARY_SCHEMA = "pyharness.summary/1"

Status = Literal["pass", "fail", "error", "skipped"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "skipped")


@dataclass(frozen=True)
class Frame:
    """One stack frame as a tool reported it."""

    function: str
    file: str | None = None
    line: int | None = None
    object: str | None = None  # shared object / module the frame lives in

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line, "object": self.object}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Frame:
        return cls(d["function"], d.get("file"), d.get("line"), d.get("object"))

    def where(self) -> str:
        """``file:line`` when known, else the function name."""
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or self.function


@dataclass(frozen=True)
class Trace:
    """A further stack of one finding: a data race's other access, where a block was freed...

    ``label`` is the tool's own words for it ("Previous write of size 4 by thread T1").
    """

    label: str
    stack: tuple[Frame, ...]
    project_frame: Frame | None = None  # set by attribution, like the finding's own

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "frame": self.project_frame.to_json() if self.project_frame else None,
            "stack": [f.to_json() for f in self.stack],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trace:
        frame = d.get("frame")
        return cls(
            str(d.get("label", "")),
            tuple(Frame.from_json(f) for f in d.get("stack", [])),
            Frame.from_json(frame) if frame else None,
        )


@dataclass(frozen=True)
class Finding:
    """One defect a tool reported: a leak, an invalid access, UB, a data race, growth...

    Parsers fill in what the tool said and leave ``project_frame`` unset; attribution
    (the project's policy, applied once per cell) sets it. ``suppressed`` from a parser
    means the tool itself discounts the finding (a suppression matched, a leak kind that
    does not count); attribution also sets it for a finding with no project frame.
    """

    tool: str
    kind: str  # e.g. "leak.definite", "heap-buffer-overflow", "signed-integer-overflow"
    message: str
    bytes: int | None = None
    blocks: int | None = None
    stack: tuple[Frame, ...] = ()
    project_frame: Frame | None = None  # top frame in the project's own code, if any
    suppressed: bool = False  # matched a suppression or attributed to foreign code
    related: tuple[Trace, ...] = ()  # further stacks (a race's other access, the free of a used block)
    # The unwinder stopped early (the stack ends inside the interpreter, or the tool says so):
    # a foreign verdict on such a stack is not proof that no project frame was below it.
    truncated: bool = False
    # Not a defect: context a profiler reports (memray's allocation sites at the peak).
    # Attributed like any finding, shown in the report, never fails a cell.
    informational: bool = False

    @property
    def counts(self) -> bool:
        """True when this finding fails the cell: a defect, attributed to the project, not suppressed."""
        return self.project_frame is not None and not self.suppressed and not self.informational

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "kind": self.kind,
            "message": self.message,
            "bytes": self.bytes,
            "blocks": self.blocks,
            "frame": self.project_frame.to_json() if self.project_frame else None,
            "stack": [f.to_json() for f in self.stack],
            "suppressed": self.suppressed,
            "related": [t.to_json() for t in self.related],
            "truncated": self.truncated,
            "informational": self.informational,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        frame = d.get("frame")
        return cls(
            tool=d["tool"],
            kind=d["kind"],
            message=d["message"],
            bytes=d.get("bytes"),
            blocks=d.get("blocks"),
            stack=tuple(Frame.from_json(f) for f in d.get("stack", [])),
            project_frame=Frame.from_json(frame) if frame else None,
            suppressed=bool(d.get("suppressed", False)),
            related=tuple(Trace.from_json(t) for t in d.get("related", [])),
            truncated=bool(d.get("truncated", False)),
            informational=bool(d.get("informational", False)),
        )


@dataclass(frozen=True)
class Metric:
    """A measured number, optionally gated against a baseline."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    tolerance: float | None = None  # absolute, in ``unit``
    verdict: Literal["pass", "fail", "info"] = "info"

    @property
    def delta(self) -> float | None:
        return None if self.baseline is None else self.value - self.baseline

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "tolerance": self.tolerance,
            "delta": self.delta,
            "verdict": self.verdict,
        }

    @classmethod
    def from_json(cls, name: str, d: dict[str, Any]) -> Metric:
        return cls(
            name,
            float(d["value"]),
            d["unit"],
            d.get("baseline"),
            d.get("tolerance"),
            d.get("verdict", "info"),
        )


@dataclass(frozen=True)
class CellReport:
    """The outcome of one matrix cell: variant x tool x workload."""

    variant: str
    tool: str
    workload: str
    status: Status
    reason: str
    duration_s: float
    metrics: tuple[Metric, ...] = ()
    findings: tuple[Finding, ...] = ()
    artifacts: tuple[str, ...] = ()  # paths relative to the cell's directory
    extra: dict[str, Any] = field(default_factory=dict)  # tool-specific detail (series, table)

    @property
    def id(self) -> str:
        return f"{self.variant}-{self.tool}-{self.workload}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "variant": self.variant,
            "tool": self.tool,
            "workload": self.workload,
            "status": self.status,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 3),
            "metrics": {m.name: m.to_json() for m in self.metrics},
            "findings": [f.to_json() for f in self.findings],
            "artifacts": list(self.artifacts),
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CellReport:
        return cls(
            variant=d["variant"],
            tool=d["tool"],
            workload=d["workload"],
            status=d["status"],
            reason=d["reason"],
            duration_s=float(d["duration_s"]),
            metrics=tuple(Metric.from_json(k, v) for k, v in d.get("metrics", {}).items()),
            findings=tuple(Finding.from_json(f) for f in d.get("findings", [])),
            artifacts=tuple(d.get("artifacts", [])),
            extra=dict(d.get("extra", {})),
        )


@dataclass(frozen=True)
class ParsedCell:
    """What a tool's parser read from one cell's artifacts: findings, and metrics when the tool measures."""

    findings: tuple[Finding, ...]
    metrics: tuple[Metric, ...] = ()
