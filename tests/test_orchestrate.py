"""The orchestrator end to end (real subjects, staged plain build), and the subprocess gateway.

Each detector is shown failing when it must and passing on clean code:
injected per-cycle growth fails the stability cell and the same run without
it passes; a lost frame fails the messages cell; a port already in use and a
crashed subject give ``error`` cells with the reason.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from pyharness import build, orchestrate, proc, rss
from pyharness.errors import ConfigError, HarnessError
from pyharness.matrix import TOOLS, Tool
from pyharness.model import CellReport
from pyharness.runners.base import LaunchSpec
from pyharness.runners.registry import parser_for, runner_for

CELL_KEYS = {
    "variant",
    "tool",
    "workload",
    "status",
    "reason",
    "duration_s",
    "metrics",
    "findings",
    "artifacts",
}


def run_cell(staged: build.StagedBuild, tmp_path: Path, workload: str, *args: str, **kw: Any) -> CellReport:
    req = orchestrate.CellRequest(
        "plain",
        "rss",
        workload,
        scenario_args=args,
        cell_dir=tmp_path / "cell",
        json_path=tmp_path / "out.json",
        sample_interval_s=0.02,
        **kw,
    )
    return orchestrate.run_cell(req, stage=lambda _variant: staged)


def metrics(report: CellReport) -> dict[str, float]:
    return {m.name: m.value for m in report.metrics}


# --- cells -------------------------------------------------------------------------------------


def test_connections_cell_report_and_artifacts(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    # 100 connections between the top checkpoints are a few pages of RSS: too few to hold the
    # real 256 B gate (the sweep's job); this test is about the report, so the gate is loose.
    loose = rss.RssLimits(server_bytes_per_connection=4096)
    report = run_cell(plain_build, tmp_path, "connections", "--checkpoints", "50,100,200", limits=loose)
    assert report.status == "pass", report.reason
    m = metrics(report)
    assert {
        "server_rss_0",
        "server_rss_200",
        "server_bytes_per_connection",
        "client_bytes_per_connection",
    } <= set(m)
    assert m["connections_max"] == 200
    written = json.loads((tmp_path / "out.json").read_text())
    assert written == json.loads((tmp_path / "cell" / "cell.json").read_text())
    assert set(written) >= CELL_KEYS
    assert written["id"] == "plain-rss-connections"
    assert {"cell.json", "events.jsonl", "rss.csv", "subject.stderr"} <= set(written["artifacts"])
    with (tmp_path / "cell" / "rss.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and rows[0].keys() == {"t_s", "rss_bytes", "tree_rss_bytes", "fds"}
    # The subject's series, not the tree's: the fleet is a separate process.
    assert all(int(r["tree_rss_bytes"]) >= int(r["rss_bytes"]) > 0 for r in rows)
    assert CellReport.from_json(written).status == "pass"


def test_stability_clean_passes(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "200", "--warmup", "50")
    assert report.status == "pass", report.reason
    assert metrics(report)["fds_start"] == metrics(report)["fds_end"]


def test_stability_injected_growth_fails(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    args = ("--cycles", "200", "--warmup", "50", "--inject-growth-bytes", "4096")
    report = run_cell(plain_build, tmp_path, "stability", *args)
    assert report.status == "fail"
    assert "RSS growth" in report.reason
    assert metrics(report)["rss_slope_bytes_per_cycle"] > 3000  # ~4 KiB a cycle, plus the list's own slot


def test_messages_exact_delivery_passes(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "messages", "--messages", "5000")
    assert report.status == "pass", report.reason
    m = metrics(report)
    assert m["frames_received"] == 5000 and m["bytes_received"] == 5000 * 1024
    assert m["rss_peak"] >= max(m["rss_before"], m["rss_after"])


def test_messages_lost_frame_fails(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    report = run_cell(
        plain_build,
        tmp_path,
        "messages",
        "--messages",
        "5000",
        "--drop-frames",
        "1",
        "--deliver-timeout",
        "1",
    )
    assert report.status == "fail"
    assert "4,999 of 5,000 frames" in report.reason


def test_port_in_use_is_an_error_cell(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        report = run_cell(plain_build, tmp_path, "messages", "--port", str(port))
    assert report.status == "error"
    assert "Address already in use" in report.reason
    assert "Traceback" not in report.reason


def test_crashed_subject_is_an_error_cell(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "50", "--inject-crash")
    assert report.status == "error"
    assert "killed by SIGABRT" in report.reason
    assert report.extra["subject"]["signal"] == signal.SIGABRT


def test_hung_subject_times_out_into_an_error_cell(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "1000000", timeout_s=1.5)
    assert report.status == "error"
    assert "timed out" in report.reason
    assert report.extra["subject"]["timed_out"] is True


def test_build_failure_is_an_error_cell(tmp_path: Path) -> None:
    def broken(_variant: str) -> build.StagedBuild:
        raise build.BuildError("compile (plain) failed (exit 1): ninja")

    req = orchestrate.CellRequest("plain", "rss", "messages", cell_dir=tmp_path / "c")
    report = orchestrate.run_cell(req, stage=broken)
    assert (report.status, report.reason) == ("error", "compile (plain) failed (exit 1): ninja")
    assert json.loads((tmp_path / "c" / "cell.json").read_text())["status"] == "error"


def test_bad_requests_raise_before_anything_runs(tmp_path: Path) -> None:
    for req in (
        orchestrate.CellRequest("nope", "rss", "messages", cell_dir=tmp_path),
        orchestrate.CellRequest("plain", "rss", "nope", cell_dir=tmp_path),
        orchestrate.CellRequest("plain", "rss", "messages", scenario_args=("--bogus",), cell_dir=tmp_path),
    ):
        with pytest.raises(ConfigError):
            orchestrate.run_cell(req, stage=lambda _v: pytest.fail("must not build"))


# --- the runner registry -----------------------------------------------------------------------


def test_registry_rss_and_missing_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner_for("rss").id == "rss"
    assert parser_for("rss") is None
    with pytest.raises(ConfigError):
        runner_for("nope")
    monkeypatch.setitem(TOOLS, "no-such-tool", Tool("no-such-tool", "plain", None, "-", "a tool not built"))
    with pytest.raises(HarnessError, match="has no runner yet"):
        runner_for("no-such-tool")
    with pytest.raises(HarnessError, match="has no parser yet"):
        parser_for("no-such-tool")


# --- the subprocess gateway --------------------------------------------------------------------


def py(code: str, timeout: float = 30.0, **kw: Any) -> LaunchSpec:
    return LaunchSpec((sys.executable, "-c", code), {"PATH": "/usr/bin:/bin"}, timeout, **kw)


def test_gateway_captures_output_and_sets_the_locale() -> None:
    code = "import os, sys; print(os.environ['LC_ALL']); print('oops', file=sys.stderr); sys.exit(3)"
    result = proc.run(py(code, success_codes=frozenset({3})))
    assert result.stdout.strip() == "C"
    assert result.stderr_tail.strip() == "oops"
    assert (result.returncode, result.signal, result.ok) == (3, None, True)
    assert result.describe() == "exit 3"


def test_gateway_samples_the_subjects_rss() -> None:
    code = "b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nimport time; time.sleep(0.5)"
    result = proc.run(py(code), sample_interval=0.02)
    assert result.ok
    assert result.peak_rss is not None and result.peak_rss > 64 << 20
    assert all(s.tree_rss >= s.rss for s in result.samples)


def test_gateway_timeout_sigterm_then_sigkill(tmp_path: Path) -> None:
    # A child that ignores SIGTERM (as a tool writing its report might, for a while).
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    result = proc.run(py(code, timeout=1.0), grace_s=0.5)
    assert result.timed_out and not result.ok
    assert result.signal == signal.SIGKILL
    assert result.duration_s < 10
    polite = proc.run(py("import time; time.sleep(60)", timeout=0.5))
    assert polite.timed_out and polite.signal == signal.SIGTERM
    assert "timed out" in polite.describe()


def test_gateway_kills_leftover_helpers(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    code = (
        "import subprocess, sys\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
    )
    assert proc.run(py(code)).ok
    pid = int(pidfile.read_text())
    # Still sleeping would raise psutil.TimeoutExpired here: the gateway must have killed it.
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=5)


def test_gateway_reports_a_missing_program() -> None:
    with pytest.raises(HarnessError, match="could not start"):
        proc.run(LaunchSpec(("/nonexistent/prog",), {}, 5.0))
