"""The cell model: what one matrix cell found and measured, shared by every stage.

Everything here is a frozen dataclass with a ``to_json``/``from_json`` pair, so a
cell report written by one process (the orchestrator) can be read back by
another (the collector) without loss. The JSON shape is a contract
(docs/ARCHITECTURE.md, "Reports").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pyharness.model.coverage import Coverage

SCHEMA = "pyharness.cell/1"

# The kinds of the informational findings that name what a test left open to the end of its
# session (pyharness's pytest plugin sees them): not defects, never failing a cell.
LEFT_FD = "descriptor-left-open"
LEFT_THREAD = "thread-left-running"
LEFT_KINDS = frozenset({LEFT_FD, LEFT_THREAD})

Status = Literal["pass", "fail", "error", "skipped"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "skipped")


@dataclass(frozen=True)
class Frame:
    """One stack frame as a tool reported it."""

    function: str
    file: str | None = None
    line: int | None = None
    object: str | None = None  # shared object / module the frame lives in
    offset: int | None = None  # the pc's offset in ``object``, when the tool gave no file:line

    def to_json(self) -> dict[str, Any]:
        out = {"function": self.function, "file": self.file, "line": self.line, "object": self.object}
        return out if self.offset is None else {**out, "offset": self.offset}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Frame:
        return cls(d["function"], d.get("file"), d.get("line"), d.get("object"), d.get("offset"))

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
    truncated: bool = False  # the unwinder stopped early (see ``Finding.truncated``)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "frame": self.project_frame.to_json() if self.project_frame else None,
            "stack": [f.to_json() for f in self.stack],
            "truncated": self.truncated,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trace:
        frame = d.get("frame")
        return cls(
            str(d.get("label", "")),
            tuple(Frame.from_json(f) for f in d.get("stack", [])),
            Frame.from_json(frame) if frame else None,
            bool(d.get("truncated", False)),
        )


@dataclass(frozen=True)
class Finding:
    """One defect a tool reported: a leak, an invalid access, UB, a data race, growth...

    Its life (docs/ARCHITECTURE.md, "A finding's life"): a parser fills in what the
    tool said, every stack of the report included (``stack``, then ``related``), and
    leaves ``project_frame`` unset; attribution (the project's policy, applied once per
    cell) looks for the project in every stack and sets ``project_frame``, and ``via``
    when the stack that reached the project is a related one ("freed by thread T0
    here"). The finding then *counts*; the judge marks a counted finding ``known`` when
    the project's known-findings file accepts it with a reason, and only a counted
    finding that is not known *fails* the cell. ``suppressed`` from a parser means the
    tool itself discounts the finding (a suppression matched, a leak kind that does not
    count); attribution also sets it for a finding with no project frame. ``test`` is
    the test during which the tool reported it, when a test runner marked boundaries.
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
    test: str | None = None  # the test id (pytest's node id) during which it was reported
    via: str | None = None  # the label of the related stack that reached the project, if not the first
    known: str | None = None  # the reason it was accepted (the project's known-findings file)
    # A runtime that owns the block (a leak allocated inside tracemalloc's hook, a thread's stack
    # cached by glibc): set by attribution, certainly not the project's, however cut its stack.
    owner: str | None = None
    # A leak first seen by a check that covered several tests (``test`` is then None): their
    # ids, in order. The leak is one of theirs; a re-run of only them, checked after each,
    # names it (``pyharness.cell.narrow``) and leaves ``span`` empty.
    span: tuple[str, ...] = ()

    @property
    def during(self) -> str | None:
        """The test it was reported during, or for a span "one of N tests (first … last)"."""
        if self.test is not None or not self.span:
            return self.test
        if len(self.span) == 1:
            return self.span[0]
        return f"one of {len(self.span)} tests ({self.span[0]} … {self.span[-1]})"

    @property
    def counts(self) -> bool:
        """True when this finding is the project's: a defect, attributed to it, not suppressed."""
        return self.project_frame is not None and not self.suppressed and not self.informational

    @property
    def fails(self) -> bool:
        """True when this finding fails its cell: it counts and is not a known, accepted one."""
        return self.counts and self.known is None

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
            "test": self.test,
            "via": self.via,
            "known": self.known,
            "owner": self.owner,
            "span": list(self.span),
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
            test=d.get("test"),
            via=d.get("via"),
            known=d.get("known"),
            owner=d.get("owner"),
            span=tuple(str(t) for t in d.get("span", ())),
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


# What set a cell's time limit (pyharness.cell.plan): the user's --timeout as it is, this tool's
# own last complete run of the same subject, a measured native run of it times the tool's
# slowdown, the project's table (or a size of it), the scenario's own estimate, or the toolkit's
# default guess for a command.
LimitBasis = Literal["timeout", "measured-tool", "measured", "table", "scenario", "default"]
LIMIT_BASES: dict[LimitBasis, str] = {
    "timeout": "--timeout, as given",
    "measured-tool": "this tool's last complete run of the same subject",
    "measured": "a measured native run",
    "table": "the project's table",
    "scenario": "the scenario's estimate",
    "default": "pyharness's guess for a command",
}


@dataclass(frozen=True)
class SubjectRun:
    """How the subject process went: the facts a later reader needs to trust the verdict."""

    argv: tuple[str, ...]
    cwd: str
    pid: int
    returncode: int
    signal: int | None
    timed_out: bool
    interrupted: bool
    duration_s: float
    limit_s: float  # the time limit it ran under (computed once, in the plan)
    expected_s: float  # what the workload was expected to take under this tool
    peak_rss: int | None
    samples: int
    sample_interval_s: float | None
    stderr_tail: str = ""  # kept only when it did not end as expected
    full_unwind: bool = False  # re-run with full stack unwinding (see pyharness.cell)
    track_origins: bool = False  # re-run with memcheck's origins of uninitialised values
    limit_basis: LimitBasis = "default"  # what set limit_s
    native_s: float | None = None  # the native duration the expectation came from (None: --timeout)

    def to_json(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "cwd": self.cwd,
            "pid": self.pid,
            "returncode": self.returncode,
            "signal": self.signal,
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "duration_s": round(self.duration_s, 3),
            "limit_s": round(self.limit_s, 1),
            "expected_s": round(self.expected_s, 1),
            "peak_rss": self.peak_rss,
            "samples": self.samples,
            "sample_interval_s": self.sample_interval_s,
            "stderr_tail": self.stderr_tail,
            "full_unwind": self.full_unwind,
            "track_origins": self.track_origins,
            "limit_basis": self.limit_basis,
            "native_s": None if self.native_s is None else round(self.native_s, 3),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SubjectRun:
        return cls(
            argv=tuple(d.get("argv", ())),
            cwd=str(d.get("cwd", "")),
            pid=int(d.get("pid", 0)),
            returncode=int(d.get("returncode", 0)),
            signal=d.get("signal"),
            timed_out=bool(d.get("timed_out", False)),
            interrupted=bool(d.get("interrupted", False)),
            duration_s=float(d.get("duration_s", 0.0)),
            limit_s=float(d.get("limit_s", 0.0)),
            expected_s=float(d.get("expected_s", 0.0)),
            peak_rss=d.get("peak_rss"),
            samples=int(d.get("samples", 0)),
            sample_interval_s=d.get("sample_interval_s"),
            stderr_tail=str(d.get("stderr_tail", "")),
            full_unwind=bool(d.get("full_unwind", False)),
            track_origins=bool(d.get("track_origins", False)),
            limit_basis=d["limit_basis"] if d.get("limit_basis") in LIMIT_BASES else "default",
            native_s=None if d.get("native_s") is None else float(d["native_s"]),
        )


@dataclass(frozen=True)
class Mark:
    """A labelled moment of the subject's run (a checkpoint), seconds since it started."""

    t: float
    label: str


@dataclass(frozen=True)
class Omitted:
    """What a cell report left out of its uncounted findings (only the largest are kept)."""

    count: int = 0
    bytes: int = 0
    suppressed: int = 0
    foreign: int = 0


@dataclass(frozen=True)
class TestOutcome:
    """What a test-suite workload's tests did: its JUnit report, or the journal pyharness's
    pytest plugin wrote as they ran (which outlives a run killed at its time limit or crashed:
    then ``complete`` is False, the counts are those of the tests that ended, and ``running``
    names the test that was running when the process ended)."""

    __test__ = False  # not a pytest test class, whatever its name

    tests: int  # tests that ran (to their end)
    failures: int
    errors: int
    skipped: int
    failed: tuple[str, ...] = ()  # ids of the failed and erred tests (the first few)
    collected: int | None = None  # tests the suite meant to run (None: not known)
    running: str | None = None  # the test running when the process ended, if it ended in one
    complete: bool = True  # False: the suite did not run to its end

    @property
    def passed(self) -> int:
        return max(self.tests - self.failures - self.errors - self.skipped, 0)

    @property
    def not_run(self) -> int | None:
        """Tests collected that never started (None when the collected count is not known)."""
        if self.collected is None:
            return None
        return max(self.collected - self.tests - (1 if self.running else 0), 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "tests": self.tests,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
            "failed": list(self.failed),
            "collected": self.collected,
            "running": self.running,
            "complete": self.complete,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TestOutcome:
        collected = d.get("collected")
        return cls(
            int(d.get("tests", 0)),
            int(d.get("failures", 0)),
            int(d.get("errors", 0)),
            int(d.get("skipped", 0)),
            tuple(d.get("failed", ())),
            collected=int(collected) if collected is not None else None,
            running=d.get("running"),
            complete=bool(d.get("complete", True)),
        )

    def counts_text(self) -> str:
        """``8 passed, 1 failed, 1 skipped`` (only the counts that are not zero)."""
        parts = [
            (self.passed, "passed"),
            (self.failures, "failed"),
            (self.errors, "erred"),
            (self.skipped, "skipped"),
        ]
        return ", ".join(f"{n} {word}" for n, word in parts if n) or "none ran"


Preset = Literal["quick", "sweep", "custom"]


@dataclass(frozen=True)
class CellReport:
    """The outcome of one matrix cell: variant x tool x workload.

    Every field is typed and written by one stage of the cell (``pyharness.cell``);
    ``details`` holds the workload judge's tables for people (checkpoints, fits) and
    is read by renderers only, never by a later stage.
    """

    variant: str
    tool: str
    workload: str
    status: Status
    reason: str
    duration_s: float
    metrics: tuple[Metric, ...] = ()
    findings: tuple[Finding, ...] = ()
    artifacts: tuple[str, ...] = ()  # paths relative to the cell's directory
    # "quick" or "sweep": the sizes the baselines compare; "custom" when the user sized
    # the workload (its numbers are then compared with nothing).
    preset: Preset = "quick"
    subject: SubjectRun | None = None
    series: tuple[tuple[float, int], ...] = ()  # (seconds since start, RSS bytes), as sampled
    marks: tuple[Mark, ...] = ()
    omitted: Omitted = field(default_factory=Omitted)
    tests: TestOutcome | None = None
    cached_from: str | None = None  # the run whose identical cell this report reuses
    # The project's native coverage by this cell (the coverage tool; None for every other).
    coverage: Coverage | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return cell_id(self.variant, self.tool, self.workload)

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
            "preset": self.preset,
            "metrics": {m.name: m.to_json() for m in self.metrics},
            "findings": [f.to_json() for f in self.findings],
            "omitted": asdict(self.omitted),
            "tests": self.tests.to_json() if self.tests else None,
            "artifacts": list(self.artifacts),
            "subject": self.subject.to_json() if self.subject else None,
            "series": [[round(t, 3), rss] for t, rss in self.series],
            "marks": [{"t": round(m.t, 3), "label": m.label} for m in self.marks],
            "cached_from": self.cached_from,
            "coverage": self.coverage.to_json() if self.coverage else None,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CellReport:
        subject = d.get("subject")
        tests = d.get("tests")
        # A report written before the typed fields kept these in "extra" (same schema id).
        legacy = d.get("extra") or {}
        omitted = d.get("omitted") or legacy.get("findings_omitted") or {}
        return cls(
            variant=d["variant"],
            tool=d["tool"],
            workload=d["workload"],
            status=d["status"],
            reason=d["reason"],
            duration_s=float(d["duration_s"]),
            preset=d.get("preset") or _legacy_preset(legacy),
            metrics=tuple(Metric.from_json(k, v) for k, v in d.get("metrics", {}).items()),
            findings=tuple(Finding.from_json(f) for f in d.get("findings", [])),
            omitted=Omitted(**{k: int(v) for k, v in omitted.items() if k in Omitted.__dataclass_fields__}),
            tests=TestOutcome.from_json(tests) if tests else None,
            artifacts=tuple(d.get("artifacts", [])),
            subject=SubjectRun.from_json(subject) if subject else None,
            series=tuple((float(t), int(rss)) for t, rss in d.get("series", [])),
            marks=tuple(Mark(float(m["t"]), str(m.get("label", ""))) for m in d.get("marks", [])),
            cached_from=d.get("cached_from"),
            coverage=Coverage.from_json(d["coverage"]) if d.get("coverage") else None,
            details=dict(d.get("details", {})),
        )


def _legacy_preset(extra: dict[str, Any]) -> Preset:
    """The preset of a report from before ``preset`` (its sizes went in ``extra``): a sweep
    cell must not be compared with quick numbers, nor a custom-sized one with any."""
    if extra.get("scenario_args"):
        return "custom"
    return "sweep" if extra.get("sweep") else "quick"


def cell_id(variant: str, tool: str, workload: str) -> str:
    """``asan-asan-messages``: the one spelling of a cell's id (a file name: no colons)."""
    return f"{variant}-{tool}-{workload}".replace(":", "-")


@dataclass(frozen=True)
class ParsedCell:
    """What a tool's parser read from one cell's artifacts: findings, metrics when the tool
    measures, and how often each of the tool's suppressions matched (by name, when it says)."""

    findings: tuple[Finding, ...]
    metrics: tuple[Metric, ...] = ()
    suppressions: Mapping[str, int] = field(default_factory=dict)
    coverage: Coverage | None = None  # unattributed: every file the tool reported
