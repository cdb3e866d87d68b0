"""Workloads as real subject processes, and the rss analysis on synthetic events.

The subject tests run ``python -P -m pyharness scenario ...`` against the
staged plain build with small sizes; the judge tests feed the scenarios'
judges (``pyharness.netcore.judges``) hand-made event lists, so each detector
is shown failing and passing.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from pyharness import scenario
from pyharness.netcore import connections, judges, messages, stability
from pyharness.netcore.common import preset
from pyharness.proc import RssSample
from pyharness.scenario import Evidence, Judgement
from tests.conftest import THIS
from tests.support import ENTRIES


def parse(workload: str, *args: str) -> Any:
    entry = ENTRIES[workload]
    return scenario.parser_for(scenario.load(entry), entry, strict=True).parse_args(list(args))


def judge(workload: str, events: list[dict[str, Any]], tool: str = "rss") -> Judgement:
    return scenario.load(ENTRIES[workload]).judge(Evidence(tool, "quick", events, ()))


def test_the_projects_scenario_workloads_are_public_scenarios() -> None:
    loaded = {w.id: scenario.load(w.scenario) for w in THIS.workloads.values() if w.scenario}
    assert set(loaded) == {"connections", "messages", "stability", "hostile"}
    assert all(not s.internal and s.id == wid for wid, s in loaded.items())
    assert scenario.load("pyharness.netcore.client_fleet:SCENARIO").internal


def test_sweep_presets_and_explicit_options_win() -> None:
    assert connections.checkpoints(parse("connections"))[-1] < 10_000
    sweep = connections.checkpoints(parse("connections", "--sweep"))
    assert {100, 1000, 10_000} <= set(sweep)
    assert connections.checkpoints(parse("connections", "--connections", "300")) == (100, 300)
    assert connections.checkpoints(parse("connections", "--sweep", "--checkpoints", "7,3")) == (3, 7)
    cycles = preset(parse("stability", "--sweep"), "cycles", stability.QUICK_CYCLES, stability.SWEEP_CYCLES)
    assert cycles >= 10_000
    assert preset(parse("stability", "--sweep", "--cycles", "5"), "cycles", 1, 2) == 5
    frames = preset(parse("messages"), "messages", messages.QUICK_MESSAGES, messages.SWEEP_MESSAGES)
    assert frames == messages.QUICK_MESSAGES


def test_bad_scenario_options_are_rejected() -> None:
    for args in (["--cycles", "0"], ["--nope"], ["--port", "70000"]):
        with pytest.raises(argparse.ArgumentError):
            parse("stability", *args)


def ev(kind: str, t: float, **fields: Any) -> dict[str, Any]:
    return {"t": t, "event": kind, **fields}


def connections_events(per_connection: float, *, sessions_short_by: int = 0) -> list[dict[str, Any]]:
    base = 20_000_000
    out = [ev("checkpoint", 0.0, label="before server start", connections=0, rss=base)]
    for i, n in enumerate((0, 100, 1000, 2500, 5000, 10_000)):
        held = n - (sessions_short_by if n == 10_000 else 0)
        out.append(
            ev(
                "checkpoint",
                1.0 + i,
                label=f"{n} connected",
                step=True,
                connections=n,
                sessions=held,
                rss=int(base + 300_000 + per_connection * n),
                client_rss=int(base + 600 * n),
            )
        )
    out.append(ev("checkpoint", 9.0, label="after cleanup", connections=0, sessions=0, rss=base + 400_000))
    out.append(ev("result", 10.0, target=10_000, reached=10_000, protocol_errors=0))
    return out


def test_connections_slope_from_checkpoints() -> None:
    analysis = judge("connections", connections_events(184))
    metrics = {m.name: m for m in analysis.metrics}
    assert analysis.status == "pass", analysis.reason
    assert metrics["server_bytes_per_connection"].value == pytest.approx(184, abs=0.5)
    assert metrics["client_bytes_per_connection"].value == pytest.approx(600, abs=0.5)
    assert metrics["server_rss_10000"].value == 20_000_000 + 300_000 + 184 * 10_000
    assert analysis.details["fit"]["from"] == 1000


def test_connections_fails_above_the_limit_and_on_missing_sessions() -> None:
    fat = judge("connections", connections_events(11_000))
    assert fat.status == "fail" and "server bytes per connection" in fat.reason
    short = judge("connections", connections_events(184, sessions_short_by=3))
    assert short.status == "fail" and "held 9997 sessions" in short.reason


def stability_events(growth_per_cycle: int, *, fds_end: int = 9, cycles: int = 200) -> list[dict[str, Any]]:
    out = [ev("checkpoint", 0.0, label="start", cycle=0, sessions=0, fds=9, rss=20_000_000)]
    out += [
        # Allocator noise: a page up or down every few cycles, never a trend.
        ev(
            "sample",
            float(c),
            cycle=c,
            sessions=0,
            fds=9,
            rss=20_000_000 + growth_per_cycle * c + (4096 if c % 7 == 0 else 0),
        )
        for c in range(1, cycles + 1)
    ]
    out.append(
        ev(
            "checkpoint",
            cycles + 1.0,
            label="end",
            cycle=cycles,
            sessions=0,
            fds=fds_end,
            rss=20_000_000 + growth_per_cycle * cycles,
        )
    )
    out.append(ev("result", cycles + 2.0, cycles=cycles, cycles_done=cycles, warmup=cycles // 4, failure=""))
    return out


def test_stability_growth_detector() -> None:
    clean = judge("stability", stability_events(0))
    assert clean.status == "pass", clean.reason
    leaky = judge("stability", stability_events(4096))
    assert leaky.status == "fail"
    assert "RSS growth" in leaky.reason
    slope = {m.name: m.value for m in leaky.metrics}["rss_slope_bytes_per_cycle"]
    assert slope == pytest.approx(4096, rel=0.01)


def test_stability_fds_must_come_back() -> None:
    analysis = judge("stability", stability_events(0, fds_end=10))
    assert analysis.status == "fail" and "descriptors not back" in analysis.reason


def test_stability_too_few_samples_is_an_error_not_a_pass() -> None:
    analysis = judge("stability", stability_events(0, cycles=8))
    assert analysis.status == "error"


def test_no_result_event_is_an_error() -> None:
    assert judge("messages", [ev("phase", 0.0, label="x")]).status == "error"


def test_join_takes_the_nearest_sample() -> None:
    samples = [RssSample(t, int(t * 1000), int(t * 1000), 5) for t in (0.0, 1.0, 2.0)]
    joined = judges.join([ev("checkpoint", 1.4, label="x")], samples)
    assert joined[0]["sampled_rss"] == 1000
    assert joined[0]["rss"] == 1000  # the subject gave none: the sample stands in


def test_rss_limits_apply_under_the_rss_tool_only() -> None:
    fat = connections_events(11_000)
    assert judge("connections", fat, tool="rss").status == "fail"
    assert judge("connections", fat, tool="asan").status == "pass"  # RSS under ASan measures ASan


def test_a_limit_of_minus_one_measures_without_gating() -> None:
    events = connections_events(11_000)
    events[-1]["limits"] = {"server_bytes_per_connection": -1}
    assert judge("connections", events).status == "pass"


def test_an_early_stop_fails_with_the_subjects_reason() -> None:
    events = stability_events(0)
    events[-1]["failure"] = "fds 9 -> 14 after 5 cycles: sockets are not closed"
    verdict = judge("stability", events)
    assert verdict.status == "fail" and "sockets are not closed" in verdict.reason
    closing = connections_events(184)
    closing[-1]["failure"] = "the server did not close a connection within 5 s of the client's half-close"
    assert judge("connections", closing).status == "fail"


def test_hostile_fails_on_any_case_that_went_wrong() -> None:
    cases = [{"case": "garbage", "ok": True}, {"case": "server floods empty frames", "ok": True}]
    fine = [ev("result", 1.0, cases=cases, protocol_errors=23, peak_rss_growth=4096)]
    assert judge("hostile", fine).status == "pass"
    cases[1] = {
        "case": "server floods empty frames",
        "ok": False,
        "problem": "the client holds 68,000,000 empty frames",
    }
    broken = judge("hostile", [ev("result", 1.0, cases=cases, protocol_errors=23)])
    assert broken.status == "fail" and "server floods empty frames: the client holds" in broken.reason


def test_the_cores_own_exception_fails_the_cell_and_a_harness_trouble_is_an_error() -> None:
    reset = "NotConnectedError: flush: client 'stability' is not connected (socket error: Connection reset)"
    failed = judge("stability", [{"event": "error", "t": 1.0, "reason": reset}])
    assert (failed.status, failed.reason) == ("fail", f"the core raised {reset}")
    busy = "server could not listen on 127.0.0.1:9: [Errno 98] Address already in use"
    assert judge("stability", [{"event": "error", "t": 1.0, "reason": busy}]).status == "error"
