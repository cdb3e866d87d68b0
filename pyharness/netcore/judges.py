"""The judges of the core's scenarios: the subject's events and the orchestrator's samples -> verdict.

Pure: no I/O, no processes. The input is the ``Evidence`` of one cell (the
events the subject wrote and the psutil series the gateway sampled); the
output is a ``Judgement`` the cell turns into its report, beside the tools'
findings. RSS limits are applied only under the ``rss`` tool (under ASan or
Valgrind RSS measures the tool); the workload's own checks (delivery,
sessions, descriptors) apply under every tool. Each workload has its own judge:

- ``connections``: server bytes per connection = least-squares slope of the
  server's RSS over the connected-client count, fitted from 1,000 clients up
  (``SLOPE_FROM``); the client side likewise from the fleet's RSS. Fails when
  the server slope exceeds its limit or the server did not hold exactly the
  expected sessions at each step and none after cleanup.
- ``messages``: fails unless exactly N frames and N x size bytes arrived.
- ``canary`` (the self-test's one-call defects): nothing to measure; the
  tool's findings are the verdict. A tool that halts on the defect (ASan,
  UBSan) ends the subject before its result event: the cell then fails on
  the finding, or errs when no tool reported one.
- ``hostile``: every hostile case ended as it must (the server stayed up,
  counted and closed each bad peer; the client raised a clear error).
- ``stability``: growth = Theil-Sen slope of RSS over cycles after warm-up,
  projected over the judged cycles; fails above the drift limit, or when
  descriptors or sessions are not back at their start.

The limits are the scenarios' options (echoed in their result events, with
these defaults); measured baselines with tolerances gate the rest.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pyharness.api import Event, Evidence, Judgement, Metric, RssSample, Status, least_squares, theil_sen

KIB = 1024
SLOPE_FROM = 1000  # connections: fit bytes/connection from this many clients up (fixed costs settle below it)
# The target: <= 256 B per idle connection (user space, server side; docs/PERFORMANCE.md).
SERVER_BYTES_PER_CONNECTION_LIMIT = 256.0
# The target: RSS drift over 10,000 cycles after warm-up <= 64 KiB (docs/PERFORMANCE.md).
STABILITY_DRIFT_LIMIT_BYTES = 64.0 * KIB
MIN_GROWTH_SAMPLES = 10  # fewer samples after warm-up cannot support a slope
NO_LIMIT = -1.0  # a limit option's value meaning "measure, do not gate"


@dataclass(frozen=True)
class RssLimits:
    """The thresholds an rss cell is judged against (None: measured, not gated)."""

    server_bytes_per_connection: float | None = SERVER_BYTES_PER_CONNECTION_LIMIT
    drift_bytes: float | None = STABILITY_DRIFT_LIMIT_BYTES


def limits_of(evidence: Evidence, result: Event) -> RssLimits:
    """The limits the subject was given (its result echoes them), applied under ``rss`` only."""
    if evidence.tool != "rss":
        return RssLimits(None, None)
    given = result.get("limits") or {}

    def one(name: str, default: float) -> float | None:
        value = float(given.get(name, default))
        return None if value < 0 else value

    return RssLimits(
        one("server_bytes_per_connection", SERVER_BYTES_PER_CONNECTION_LIMIT),
        one("drift_bytes", STABILITY_DRIFT_LIMIT_BYTES),
    )


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

    def judgement(self, summary: str, details: dict[str, Any]) -> Judgement:
        details = {**details, "limits": self.limits}
        status: Status = "error" if self.errors else "fail" if self.failures else "pass"
        reason = "; ".join(self.errors or self.failures) or summary
        return Judgement(status, reason, tuple(self.metrics), details)


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


# The core's own exceptions (pyharness._netcore): raised mid-workload, they are the core under
# test misbehaving (a peer reset it should not have, a frame it refused), not the harness's trouble.
CORE_EXCEPTIONS = ("NetcoreError", "NotConnectedError", "ProtocolError", "BackpressureError")


def _no_result(evidence: Evidence) -> Judgement:
    errors = [e for e in evidence.events if e.get("event") == "error"]
    if errors:
        reason = str(errors[-1].get("reason"))
        if reason.split(":", 1)[0] in CORE_EXCEPTIONS:
            return Judgement("fail", f"the core raised {reason}")
        return Judgement("error", f"subject error: {reason}")
    return Judgement("error", "the subject finished without reporting a result")


def connections(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        return _no_result(evidence)
    return _connections(evidence.events, evidence.samples, result, limits_of(evidence, result))


def messages(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        return _no_result(evidence)
    judged = _messages(evidence.events, evidence.samples, result)
    calls = next((m.value for m in evidence.tool_metrics if m.name == "allocation_calls"), None)
    if calls is None or not result.get("frames_sent"):
        return judged
    # The tool's allocation calls over the frames sent. The calls include the interpreter's
    # start-up, so the figure compares only between runs of one message count (one preset).
    per_message = Metric("allocations_per_message", calls / float(result["frames_sent"]), "calls/frame")
    return replace(judged, metrics=(*judged.metrics, per_message))


def stability(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        return _no_result(evidence)
    return _stability(evidence.events, result, limits_of(evidence, result))


def canary(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        # Only a tool's report can turn this into a verdict (the cell checks the findings first).
        return Judgement("error", "the subject stopped inside the canary and no tool reported it")
    return Judgement("pass", f"canary {result.get('canary')} ran; no tool reported it")


def hostile(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        return _no_result(evidence)
    v = _Verdict()
    cases = list(result.get("cases", []))
    for case in cases:
        if not case.get("ok"):
            v.failures.append(f"{case.get('case')}: {case.get('problem')}")
    v.info("cases", len(cases), "cases")
    v.info("protocol_errors", int(result.get("protocol_errors", 0)), "connections")
    if result.get("peak_rss_growth") is not None:
        v.info("rss_growth_peak", int(result["peak_rss_growth"]), "B")
    passed = sum(1 for c in cases if c.get("ok"))
    return v.judgement(
        f"{passed} of {len(cases)} hostile cases handled: the server stayed up and closed each bad peer, "
        "the client raised a clear error",
        {"cases": cases},
    )


def _fit_from(counts: Sequence[int]) -> int:
    """The smallest count in the fit: ``SLOPE_FROM``, lowered so at least two counts remain."""
    distinct = sorted(set(counts))
    return min(SLOPE_FROM, distinct[-2]) if len(distinct) >= 2 else 0


def _connections(
    events: Sequence[Event], samples: Sequence[RssSample], result: Event, limits: RssLimits
) -> Judgement:
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
    if result.get("failure"):
        v.failures.append(str(result["failure"]))
    if result.get("protocol_errors"):
        v.failures.append(f"{result['protocol_errors']} protocol errors on idle connections")
    for c in steps:
        v.info(f"server_rss_{c['connections']}", c["rss"], "B")
    held = [c for c in steps if c.get("sessions") == c["connections"]]
    counts = [int(c["connections"]) for c in held]
    details: dict[str, Any] = {"checkpoints": table}
    if len(set(counts)) < 2:
        v.errors.append("fewer than two connection counts were reached: no slope")
        return v.judgement("", details)
    start = _fit_from(counts)
    fit_points = [c for c in held if c["connections"] >= start]
    xs = [float(c["connections"]) for c in fit_points]
    server = least_squares(xs, [float(c["rss"]) for c in fit_points])
    details["fit"] = {"from": start, "to": max(counts), "points": len(fit_points), "method": "least squares"}
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
    return v.judgement(summary, details)


def _messages(events: Sequence[Event], samples: Sequence[RssSample], result: Event) -> Judgement:
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
    return v.judgement(summary, {"checkpoints": list(checkpoints.values())})


def _stability(events: Sequence[Event], result: Event, limits: RssLimits) -> Judgement:
    v = _Verdict()
    if result.get("failure"):
        v.failures.append(str(result["failure"]))
    checkpoints = {c["label"]: c for c in join(events, ())}
    start, end = checkpoints.get("start"), checkpoints.get("end")
    if start is None or end is None:
        v.errors.append("the subject recorded no start or end checkpoint")
        return v.judgement("", {})
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
    details: dict[str, Any] = {"injected_bytes_per_cycle": result.get("injected_bytes_per_cycle", 0)}
    if len(series) < MIN_GROWTH_SAMPLES:
        if not v.failures:
            v.errors.append(
                f"only {len(series)} samples after a warm-up of {warmup} cycles: "
                f"need {MIN_GROWTH_SAMPLES} to judge growth"
            )
        return v.judgement("", details)
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
    details["growth"] = {
        "method": "Theil-Sen",
        "from_cycle": xs[0],
        "to_cycle": xs[-1],
        "points": len(series),
    }
    summary = (
        f"RSS slope {robust.slope:,.1f} B/cycle after {warmup:,} warm-up cycles, drift {drift:,.0f} B "
        f"over {span:,.0f} cycles{_limit_note(limits.drift_bytes)}; fds and sessions back to start"
    )
    return v.judgement(summary, details)
