"""``python -m pyharness.bench --quick`` at a tiny size: every peer present yields numbers, nothing is lost.

No timing assertions: the bench's numbers are reported, never judged, here.
Delivery (sent == received) is checked inside every scenario, which raises
rather than report a number; these tests make sure that check ran.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from pyharness import build
from pyharness.netcore.bench import __main__ as bench_cli
from pyharness.netcore.bench.catalogue import FRAME_SIZE, METRICS, PEERS
from tests.conftest import IN_CI

CI_REQUIRED = {"uvloop", "zmq"}  # the `bench` dependency group; CI installs it


def _expected_peers() -> list[str]:
    present = []
    for peer in PEERS:
        if peer.module is None or importlib.util.find_spec(peer.module) is not None:
            present.append(peer.id)
        elif IN_CI and peer.module in CI_REQUIRED:
            pytest.fail(f"{peer.module} is not installed and CI=true requires it (pip install {peer.module})")
    return present


@pytest.mark.slow
def test_quick_bench_measures_every_present_peer(
    plain_build: build.Staged, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peers = _expected_peers()
    out = tmp_path / "bench.json"
    assert bench_cli.main(["--quick", "--runs", "1", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    got = {(m["metric"], m["peer"]) for m in results["measurements"]}
    for metric in METRICS:
        for peer in PEERS:
            if peer.id in peers and metric.scenario in peer.scenarios:
                assert (metric.id, peer.id) in got, f"{peer.id} gave no {metric.id}"
    for m in results["measurements"]:
        assert math.isfinite(m["value"]), m
        if m["metric"] == "frames_per_s":
            assert m["detail"]["sent"] == m["detail"]["received"] > 0
            assert m["detail"]["received"] * FRAME_SIZE > 0
        if m["metric"] == "cycles_per_s":
            assert m["detail"]["end"]["sessions"] == 0
            assert m["detail"]["end"]["fds"] <= m["detail"]["start"]["fds"]
    assert set(results["skipped"]) == {p.id for p in PEERS} - set(peers)
    for r in results["ratios"]:
        assert len(r["runs"]) == 1 and r["verdict"] in ("met", "MISSED", "inconclusive", ""), r
    assert {(r["ours"], r["peer"]) for r in results["ratios"] if r["metric"] == "frames_per_s"} >= {
        ("ours-core", "limit"),
        ("ours", "limit"),
    }
    profiled = {m["peer"] for m in results["measurements"] if "threads" in m["detail"]}
    assert {"ours", "ours-core", "limit"} <= profiled, "every throughput run records its threads"
    assert {"loadavg_at_start", "loadavg_at_end", "loadavg_per_run"} <= set(results["meta"])
    table = capsys.readouterr().out
    assert "in-run comparisons" in table and "ZeroMQ does its own framing" in table
    assert "load average (1, 5, 15 min) before:" in table and "ns/frame" in table
