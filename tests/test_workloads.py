"""Workloads as real subject processes, and the rss analysis on synthetic events.

The subject tests run ``python -P -m pyharness scenario ...`` against the
staged plain build with small sizes; the judge tests feed the scenarios'
judges (``pyharness.netcore.judges``) hand-made event lists, so each detector
is shown failing and passing.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyharness import build, scenario
from pyharness.netcore import connections, judges, messages, stability
from pyharness.netcore.common import preset
from pyharness.proc import RssSample
from pyharness.scenario import Evidence, Judgement
from tests.conftest import CHECKOUT, THIS
from tests.support import ENTRIES, one, run_scenario

KIB = 1024


def parse(workload: str, *args: str) -> Any:
    entry = ENTRIES[workload]
    return scenario.parser_for(scenario.load(entry), entry, strict=True).parse_args(list(args))


def judge(workload: str, events: list[dict[str, Any]], tool: str = "rss") -> Judgement:
    return scenario.load(ENTRIES[workload]).judge(Evidence(tool, "quick", events, ()))


# --- the scenario table and presets ------------------------------------------------------------


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


# --- subjects ----------------------------------------------------------------------------------


def test_connections_clients_live_in_another_process(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(plain_build, "connections", tmp_path, "--checkpoints", "50,100,200")
    assert done.returncode == 0, done.stderr
    start = one(events, "start")
    steps = [e for e in events if e["event"] == "checkpoint" and e.get("step")]
    assert [e["connections"] for e in steps] == [0, 50, 100, 200]
    assert [e["sessions"] for e in steps] == [0, 50, 100, 200]
    assert steps[0]["client_pid"] != start["pid"]
    top = steps[-1]
    assert top["fds"] >= 200 and top["client_fds"] >= 200  # both sides hold their sockets
    assert top["fds"] < 400  # ...and the server process holds only its own
    assert one(events, "checkpoint", "after cleanup")["sessions"] == 0
    assert one(events, "result")["reached"] == 200


def test_messages_arrive_exactly(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(plain_build, "messages", tmp_path, "--messages", "5000")
    assert done.returncode == 0, done.stderr
    result = one(events, "result")
    assert result["frames_received"] == result["frames_expected"] == 5000
    assert result["bytes_received"] == 5000 * KIB
    assert result["frames_per_s"] > 0


def test_messages_drop_hook_loses_one_frame(plain_build: build.Staged, tmp_path: Path) -> None:
    args = ("--messages", "5000", "--drop-frames", "1", "--deliver-timeout", "1")
    done, events = run_scenario(plain_build, "messages", tmp_path, *args)
    assert done.returncode == 0, done.stderr  # the subject measures; the analysis judges
    result = one(events, "result")
    assert (result["frames_received"], result["delivered"]) == (4999, False)
    assert judge("messages", events).status == "fail"


def test_stability_samples_every_cycle(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(plain_build, "stability", tmp_path, "--cycles", "200", "--warmup", "50")
    assert done.returncode == 0, done.stderr
    samples = [e for e in events if e["event"] == "sample"]
    assert [e["cycle"] for e in samples] == list(range(1, 201))
    assert all(e["sessions"] == 0 for e in samples)
    assert one(events, "checkpoint", "start")["fds"] == one(events, "checkpoint", "end")["fds"]
    assert one(events, "result")["frames_received"] == 200 * 4


def test_subject_refuses_the_wrong_variant(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(
        plain_build, "messages", tmp_path, "--messages", "10", extra_env={"PYHARNESS_EXPECT_VARIANT": "asan"}
    )
    assert done.returncode == 2
    assert "expected the 'asan' variant but imported 'plain'" in one(events, "error")["reason"]
    assert "Traceback" not in done.stderr


def test_port_in_use_is_a_clear_subject_error(plain_build: build.Staged, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done, events = run_scenario(plain_build, "stability", tmp_path, "--port", str(port))
    assert done.returncode == 2
    reason = one(events, "error")["reason"]
    assert f"server could not listen on 127.0.0.1:{port}" in reason
    assert "Address already in use" in reason


def test_inject_crash_aborts_after_the_first_checkpoint(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(plain_build, "stability", tmp_path, "--cycles", "50", "--inject-crash")
    assert done.returncode == -signal.SIGABRT
    assert [e["event"] for e in events] == ["start", "checkpoint"]


# --- the rss analysis on synthetic events ------------------------------------------------------


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


def test_hostile_cases_all_hold_on_the_core(plain_build: build.Staged, tmp_path: Path) -> None:
    done, events = run_scenario(plain_build, "hostile", tmp_path, "--rounds", "5")
    assert done.returncode == 0, done.stderr
    result = one(events, "result")
    assert [c for c in result["cases"] if not c["ok"]] == []
    assert len(result["cases"]) == 10 and result["protocol_errors"] >= 3 + 5


def test_a_subjects_peak_rss_is_its_own_not_its_parents() -> None:
    # ru_maxrss survives fork and exec: a child of a large parent would report the parent's peak.
    ballast = bytearray(256 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))
    code = "from pyharness.netcore.common import self_stats; print(self_stats()['peak_rss'])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=CHECKOUT
    )
    del ballast
    assert int(out.stdout) < 128 * 1024 * 1024


def test_the_cores_own_exception_fails_the_cell_and_a_harness_trouble_is_an_error() -> None:
    reset = "NotConnectedError: flush: client 'stability' is not connected (socket error: Connection reset)"
    failed = judge("stability", [{"event": "error", "t": 1.0, "reason": reset}])
    assert (failed.status, failed.reason) == ("fail", f"the core raised {reset}")
    busy = "server could not listen on 127.0.0.1:9: [Errno 98] Address already in use"
    assert judge("stability", [{"event": "error", "t": 1.0, "reason": busy}]).status == "error"
