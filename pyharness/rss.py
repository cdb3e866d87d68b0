"""Judging an ``rss`` cell: the subject's events and the orchestrator's samples -> metrics, verdict.

Pure: no I/O, no processes. The inputs are the event list the subject wrote
(``workloads.events``) and the psutil series the gateway sampled
(``proc.RssSample``); the output is an ``Analysis`` the orchestrator turns
into a ``CellReport``. Each workload has its own judge:

- ``connections``: server bytes per connection = least-squares slope of the
  server's RSS over the connected-client count, fitted from 1,000 clients up
  (``SLOPE_FROM``); the client side likewise from the fleet's RSS. Fails when
  the server slope exceeds its limit or the server did not hold exactly the
  expected sessions at each step and none after cleanup.
- ``messages``: fails unless exactly N frames and N x size bytes arrived.
- ``canary`` (the self-test's one-call defects): nothing to measure; the
  tool's findings are the verdict. A tool that halts on the defect (ASan,
  UBSan) ends the subject before its result event: ``HALTED`` says so.
- ``stability``: growth = Theil-Sen slope of RSS over cycles after warm-up,
  projected over the judged cycles; fails above the drift limit, or when
  descriptors or sessions are not back at their start.

The limits are named constants here (and CLI options); measured baselines
with tolerances replace them later.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyharness.model import Metric, Status
from pyharness.proc import RssSample
from pyharness.stats import least_squares, theil_sen
from pyharness.workloads.events import Event

KIB = 1024
SLOPE_FROM = 1000  # connections: fit bytes/connection from this many clients up (fixed costs settle below it)
# DESIGN section 10 targets <= 256 B per idle connection (user space, server side).
SERVER_BYTES_PER_CONNECTION_LIMIT = 256.0
# DESIGN section 10: RSS drift over 10,000 cycles after warm-up <= 64 KiB.
STABILITY_DRIFT_LIMIT_BYTES = 64.0 * KIB
MIN_GROWTH_SAMPLES = 10  # fewer samples after warm-up cannot support a slope
CANARY = "canary"  # the analysis of a one-call canary cell
HALTED = "halted"  # Analysis.extra key: the subject stopped inside the canary, before its result


@dataclass(frozen=True)
class RssLimits:
    """The thresholds an rss cell is judged against (None: measured, not gated)."""

    server_bytes_per_connection: float | None = SERVER_BYTES_PER_CONNECTION_LIMIT
    drift_bytes: float | None = STABILITY_DRIFT_LIMIT_BYTES


@dataclass(frozen=True)
class Analysis:
    """The verdict on one cell, before it becomes a ``CellReport``."""

    status: Status
    reason: str
    metrics: tuple[Metric, ...]
    extra: dict[str, Any] = field(default_factory=dict)


class _Verdict:
    """Collects metrics and failure reasons while a judge walks the data."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.failures: list[str] = []
        self.errors: list[str] = []
        self.limits: dict[str, float] = {}

    def info(self, name: str, value: float, unit: str) -> None:
        self.metrics.append(Metric(name, float(value), unit))

    def gate(self, name: str, value: float, unit: str, limit: float | None, what: str) -> bool:
        if limit is None:
            self.info(name, value, unit)
            return True
        ok = value <= limit
        self.metrics.append(Metric(name, float(value), unit, verdict="pass" if ok else "fail"))
        self.limits[name] = limit
        if not ok:
            self.failures.append(f"{what} {value:,.0f} {unit} exceeds the limit {limit:,.0f} {unit}")
        return ok

    def analysis(self, summary: str, extra: dict[str, Any]) -> Analysis:
        extra = {**extra, "limits": self.limits}
        if self.errors:
            return Analysis("error", "; ".join(self.errors), tuple(self.metrics), extra)
        if self.failures:
            return Analysis("fail", "; ".join(self.failures), tuple(self.metrics), extra)
        return Analysis("pass", summary, tuple(self.metrics), extra)


def _limit_note(limit: float | None) -> str:
    return "" if limit is None else f" (limit {limit:,.0f})"


def sampled_rss_at(samples: Sequence[RssSample], t: float) -> int | None:
    """The orchestrator's reading nearest in time to ``t`` (None without samples)."""
    if not samples:
        return None
    times = [s.t for s in samples]
    i = bisect.bisect_left(times, t)
    near = [samples[j] for j in (i - 1, i) if 0 <= j < len(samples)]
    return min(near, key=lambda s: abs(s.t - t)).rss


def join(events: Sequence[Event], samples: Sequence[RssSample]) -> list[Event]:
    """The checkpoints, each with ``sampled_rss`` (the nearest psutil sample) and ``rss``
    (the subject's own reading, or the sample when the subject gave none)."""
    out = []
    for e in events:
        if e.get("event") != "checkpoint":
            continue
        joined = {**e, "sampled_rss": sampled_rss_at(samples, float(e["t"]))}
        if joined.get("rss") is None:
            joined["rss"] = joined["sampled_rss"]
        out.append(joined)
    return out


def _result(events: Sequence[Event]) -> Event | None:
    results = [e for e in events if e.get("event") == "result"]
    return results[-1] if results else None


def analyse(
    workload: str,
    events: Sequence[Event],
    samples: Sequence[RssSample],
    limits: RssLimits | None = None,
) -> Analysis:
    """Judge one rss cell of ``workload`` from what the subject and the sampler recorded."""
    limits = limits or RssLimits()
    result = _result(events)
    if workload == CANARY:
        return _canary(result)
    if result is None:
        return Analysis("error", "the subject finished without reporting a result", ())
    judges = {"connections": _connections, "messages": _messages, "stability": _stability}
    if workload not in judges:
        return Analysis("error", f"no rss analysis for workload {workload!r}", ())
    return judges[workload](events, samples, result, limits)


def _canary(result: Event | None) -> Analysis:
    if result is None:
        # Only the tool's report can turn this into a verdict (the orchestrator checks).
        return Analysis(
            "error", "the subject stopped inside the canary and no tool reported it", (), {HALTED: True}
        )
    return Analysis("pass", f"canary {result.get('canary')} ran; no tool reported it", ())


def _fit_from(counts: Sequence[int]) -> int:
    """The smallest count in the fit: ``SLOPE_FROM``, lowered so at least two counts remain."""
    distinct = sorted(set(counts))
    return min(SLOPE_FROM, distinct[-2]) if len(distinct) >= 2 else 0


def _connections(
    events: Sequence[Event], samples: Sequence[RssSample], result: Event, limits: RssLimits
) -> Analysis:
    v = _Verdict()
    checkpoints = join(events, samples)
    steps = [c for c in checkpoints if c.get("step")]
    table = [
        {k: c.get(k) for k in ("connections", "sessions", "rss", "sampled_rss", "client_rss", "client_fds")}
        for c in steps
    ]
    for c in steps:
        if c.get("sessions") != c["connections"]:
            v.failures.append(
                f"the server held {c.get('sessions')} sessions when {c['connections']} clients were connected"
            )
    cleanup = [c for c in checkpoints if c.get("label") == "after cleanup"]
    if cleanup and cleanup[-1].get("sessions") != 0:
        v.failures.append(
            f"the server still held {cleanup[-1].get('sessions')} sessions after every client left"
        )
    if result.get("protocol_errors"):
        v.failures.append(f"{result['protocol_errors']} protocol errors on idle connections")
    for c in steps:
        v.info(f"server_rss_{c['connections']}", c["rss"], "B")
    held = [c for c in steps if c.get("sessions") == c["connections"]]
    counts = [int(c["connections"]) for c in held]
    extra: dict[str, Any] = {"checkpoints": table}
    if len(set(counts)) < 2:
        v.errors.append("fewer than two connection counts were reached: no slope")
        return v.analysis("", extra)
    start = _fit_from(counts)
    fit_points = [c for c in held if c["connections"] >= start]
    xs = [float(c["connections"]) for c in fit_points]
    server = least_squares(xs, [float(c["rss"]) for c in fit_points])
    extra["fit"] = {"from": start, "to": max(counts), "points": len(fit_points), "method": "least squares"}
    v.info("connections_max", max(counts), "connections")
    v.gate(
        "server_bytes_per_connection",
        server.slope,
        "B/connection",
        limits.server_bytes_per_connection,
        "server bytes per connection",
    )
    client_points = [c for c in fit_points if c.get("client_rss") is not None]
    client_slope = None
    if len(client_points) >= 2:
        client_slope = least_squares(
            [float(c["connections"]) for c in client_points], [float(c["client_rss"]) for c in client_points]
        ).slope
        v.info("client_bytes_per_connection", client_slope, "B/connection")
    if cleanup:
        v.info("server_rss_after_cleanup", cleanup[-1]["rss"], "B")
    summary = f"server {server.slope:,.0f} B/connection{_limit_note(limits.server_bytes_per_connection)}"
    if client_slope is not None:
        summary += f", client {client_slope:,.0f} B/connection"
    summary += f", fitted over {start:,}..{max(counts):,} clients"
    return v.analysis(summary, extra)


def _messages(
    events: Sequence[Event], samples: Sequence[RssSample], result: Event, limits: RssLimits
) -> Analysis:
    v = _Verdict()
    expected, received = int(result["frames_expected"]), int(result["frames_received"])
    bytes_expected, bytes_received = int(result["bytes_expected"]), int(result["bytes_received"])
    if received != expected or bytes_received != bytes_expected:
        v.failures.append(
            f"delivery: the server counted {received:,} of {expected:,} frames "
            f"({bytes_received:,} of {bytes_expected:,} bytes)"
        )
    if result.get("protocol_errors"):
        v.failures.append(f"{result['protocol_errors']} protocol errors")
    if result.get("sessions_closed") is False:
        v.failures.append("the server kept the session after the client disconnected")
    checkpoints = {c["label"]: c for c in join(events, samples)}
    before, after = checkpoints.get("before"), checkpoints.get("after")
    v.info("frames_expected", expected, "frames")
    v.info("frames_received", received, "frames")
    v.info("bytes_received", bytes_received, "B")
    v.info("frames_per_s", float(result["frames_per_s"]), "frames/s")
    v.info("mib_per_s", float(result["frames_per_s"]) * int(result["frame_size"]) / (KIB * KIB), "MiB/s")
    if before is not None and after is not None:
        window = [s.rss for s in samples if float(before["t"]) <= s.t <= float(after["t"])]
        peaks = [int(c["peak_rss"]) for c in checkpoints.values() if c.get("peak_rss") is not None]
        peak = max([*window, *peaks, int(before["rss"]), int(after["rss"])])
        v.info("rss_before", before["rss"], "B")
        v.info("rss_peak", peak, "B")
        v.info("rss_after", after["rss"], "B")
        v.info("rss_growth", int(after["rss"]) - int(before["rss"]), "B")
    summary = (
        f"{received:,} of {expected:,} frames delivered, {float(result['frames_per_s']):,.0f} frames/s "
        f"({result.get('sender', 'python')} sender)"
    )
    return v.analysis(summary, {"checkpoints": list(checkpoints.values())})


def _stability(
    events: Sequence[Event], samples: Sequence[RssSample], result: Event, limits: RssLimits
) -> Analysis:
    v = _Verdict()
    if result.get("failure"):
        v.failures.append(str(result["failure"]))
    checkpoints = {c["label"]: c for c in join(events, samples)}
    start, end = checkpoints.get("start"), checkpoints.get("end")
    if start is None or end is None:
        v.errors.append("the subject recorded no start or end checkpoint")
        return v.analysis("", {})
    if end.get("fds") != start.get("fds"):
        v.failures.append(
            f"descriptors not back to start: {start.get('fds')} at start, {end.get('fds')} at end"
        )
    if end.get("sessions") != start.get("sessions"):
        v.failures.append(
            f"sessions not back to start: {start.get('sessions')} at start, {end.get('sessions')} at end"
        )
    warmup = int(result["warmup"])
    series = [e for e in events if e.get("event") == "sample" and int(e["cycle"]) > warmup]
    v.info("cycles", int(result["cycles_done"]), "cycles")
    v.info("warmup_cycles", warmup, "cycles")
    v.info("fds_start", start["fds"], "fds")
    v.info("fds_end", end["fds"], "fds")
    v.info("sessions_end", end["sessions"], "sessions")
    v.info("rss_start", start["rss"], "B")
    v.info("rss_end", end["rss"], "B")
    extra: dict[str, Any] = {"injected_bytes_per_cycle": result.get("injected_bytes_per_cycle", 0)}
    if len(series) < MIN_GROWTH_SAMPLES:
        if not v.failures:
            v.errors.append(
                f"only {len(series)} samples after a warm-up of {warmup} cycles: "
                f"need {MIN_GROWTH_SAMPLES} to judge growth"
            )
        return v.analysis("", extra)
    xs = [float(e["cycle"]) for e in series]
    ys = [float(e["rss"]) for e in series]
    robust = theil_sen(xs, ys)
    span = xs[-1] - xs[0]
    drift = robust.slope * span
    v.info("rss_slope_bytes_per_cycle", robust.slope, "B/cycle")
    v.info("rss_slope_lsq_bytes_per_cycle", least_squares(xs, ys).slope, "B/cycle")
    v.gate(
        "rss_drift_bytes",
        drift,
        "B",
        limits.drift_bytes,
        f"RSS growth over {span:,.0f} cycles after warm-up (Theil-Sen slope {robust.slope:,.1f} B/cycle)",
    )
    extra["growth"] = {"method": "Theil-Sen", "from_cycle": xs[0], "to_cycle": xs[-1], "points": len(series)}
    summary = (
        f"RSS slope {robust.slope:,.1f} B/cycle after {warmup:,} warm-up cycles, drift {drift:,.0f} B "
        f"over {span:,.0f} cycles{_limit_note(limits.drift_bytes)}; fds and sessions back to start"
    )
    return v.analysis(summary, extra)
