"""Workloads as real subject processes, and the rss analysis on synthetic events.

The subject tests run ``python -P -m pyharness scenario ...`` against the
staged plain build with small sizes; the judge tests feed the scenarios'
judges (``pyharness.netcore.judges``) hand-made event lists, so each detector
is shown failing and passing.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyharness import build, scenario
from pyharness.scenario import Evidence, Judgement
from tests.conftest import CHECKOUT
from tests.support import ENTRIES, one, run_scenario

KIB = 1024


def judge(workload: str, events: list[dict[str, Any]], tool: str = "rss") -> Judgement:
    return scenario.load(ENTRIES[workload]).judge(Evidence(tool, "quick", events, ()))


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


@pytest.mark.tools
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
