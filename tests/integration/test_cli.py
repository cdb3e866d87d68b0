"""The command line: --help everywhere, exit codes, `report` collection, stopping, the progress line."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pyharness import build, cli
from pyharness.collect import collect
from pyharness.model import SUMMARY_SCHEMA, CellReport, Metric
from pyharness.render.table import render as render_table
from tests.conftest import CHECKOUT, THIS
from tests.support import ENTRIES


def pyharness_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m pyharness ARGS`` with the checkout's package, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    return subprocess.run(
        [sys.executable, "-m", "pyharness", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("entry", sorted(set(ENTRIES.values())))
def test_every_scenario_has_help(entry: str) -> None:
    done = pyharness_cli("scenario", entry, "--help", cwd=CHECKOUT)
    assert done.returncode == 0, done.stderr
    assert "--events" in done.stdout and "--sweep" in done.stdout


def test_scenario_by_workload_name_and_its_listing() -> None:
    listing = pyharness_cli("scenario", "--help", cwd=CHECKOUT)
    assert listing.returncode == 0 and "pyharness.netcore.stability:SCENARIO" in listing.stdout
    hooks = pyharness_cli("scenario", "stability", "--help", cwd=CHECKOUT)
    assert "--inject-growth-bytes" in hooks.stdout and "--inject-fd-leak" in hooks.stdout
    assert "--drop-frames" in pyharness_cli("scenario", "messages", "--help", cwd=CHECKOUT).stdout


def test_run_exit_codes(plain_build: build.Staged, tmp_path: Path) -> None:
    out = tmp_path / "run"
    project = ("--project", str(CHECKOUT))
    cycles = ("--", "--cycles", "200", "--warmup", "50")
    passed = pyharness_cli("run", "--tool", "rss", "--workload", "stability", *project, "--out-dir", str(out),
                           "--no-progress", *cycles, cwd=tmp_path)  # fmt: skip
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "plain-rss-stability: pass" in passed.stdout

    leaky = pyharness_cli("run", "--tool", "rss", "--workload", "stability", *project, "--json",
                          str(tmp_path / "leak.json"), "--out-dir", str(tmp_path / "leak"), *cycles,
                          "--inject-growth-bytes", "4096", cwd=tmp_path)  # fmt: skip
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert json.loads((tmp_path / "leak.json").read_text())["status"] == "fail"
    assert "[plain-rss-stability]" in leaky.stderr  # the progress line, phase by phase (not a TTY)
    assert " of ~" in leaky.stderr  # ... with the expected duration beside the elapsed time

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        args = (
            "run",
            "--tool",
            "rss",
            "--workload",
            "messages",
            *project,
            "--out-dir",
            str(out),
            "--no-progress",
        )
        busy = pyharness_cli(*args, "--", "--port", port, cwd=tmp_path)
    assert busy.returncode == 2
    assert "Address already in use" in busy.stdout
    assert "Traceback" not in busy.stdout + busy.stderr

    report = pyharness_cli("report", str(out), *project, cwd=tmp_path)
    assert report.returncode == 2, report.stdout + report.stderr  # the worst cell erred
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == SUMMARY_SCHEMA
    assert {c["id"]: c["status"] for c in summary["cells"]} == {
        "plain-rss-stability": "pass",
        "plain-rss-messages": "error",
    }
    assert summary["git"].get("commit")


def test_bad_requests_exit_2_without_traceback(tmp_path: Path) -> None:
    bad_option = pyharness_cli("run", "--tool", "rss", "--workload", "messages", "--project", str(CHECKOUT),
                               "--out-dir", str(tmp_path), "--", "--frobnicate", cwd=tmp_path)  # fmt: skip
    assert bad_option.returncode == 2
    assert "bad option for scenario messages" in bad_option.stderr
    no_project = pyharness_cli("run", "--tool", "rss", "--workload", "messages", cwd=tmp_path)
    assert no_project.returncode == 2 and "no pyproject.toml" in no_project.stderr
    no_reports = pyharness_cli("report", str(tmp_path), "--project", str(CHECKOUT), cwd=tmp_path)
    assert no_reports.returncode == 2
    assert "no cell reports" in no_reports.stderr
    for out in (bad_option, no_project, no_reports):
        assert "Traceback" not in out.stderr


def _descendants_gone(pid: int, seen: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = seen
    while time.monotonic() < deadline:
        alive = [
            p for p in seen if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return []
        time.sleep(0.2)
    return alive


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""  # gone, or a zombie: not the subject we wait for


def _wait_for_subject(orchestrator: psutil.Process, timeout: float = 120.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = orchestrator.children(recursive=True)
        if any("scenario" in _cmdline(k) for k in kids):
            return [k.pid for k in kids]
        time.sleep(0.2)
    pytest.fail("the subject never started")


@pytest.mark.parametrize("how", ["sigterm", "parent-killed"])
def test_a_stopped_run_leaves_no_process_and_reports_the_cell(
    plain_build: build.Staged, tmp_path: Path, how: str
) -> None:
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "pyharness", "matrix", "rss", "stability", "--project", str(CHECKOUT),
            "--run-dir", str(run_dir), "--no-progress", "--", "--cycles", "10000000"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    if how == "sigterm":
        top = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        orchestrator = psutil.Process(top.pid)
    else:
        # nox killed outright: the orchestrator's parent dies and it must not carry on, orphaned.
        top = subprocess.Popen(["bash", "-c", '"$@" & wait', "bash", *argv], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while not psutil.Process(top.pid).children() and time.monotonic() < deadline:
            time.sleep(0.1)
        orchestrator = psutil.Process(top.pid).children()[0]
    seen = [orchestrator.pid, *_wait_for_subject(orchestrator)]
    time.sleep(1.0)
    top.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    _out, err = top.communicate(timeout=60)
    if how == "sigterm":
        assert top.returncode == 128 + signal.SIGTERM, err
    assert _descendants_gone(orchestrator.pid, seen) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [(c["id"], c["status"], c["reason"]) for c in summary["cells"]] == [
        ("plain-rss-stability", "error", "interrupted by SIGTERM")
    ]


def test_collect_summary_and_table(tmp_path: Path) -> None:
    def cell(workload: str, status: str) -> CellReport:
        return CellReport("plain", "rss", workload, status, f"{status} because", 1.5,  # type: ignore[arg-type]
                          metrics=(Metric("frames_per_s", 123456.0, "frames/s"),))  # fmt: skip

    for c in (cell("messages", "pass"), cell("stability", "fail")):
        (tmp_path / c.id).mkdir()
        (tmp_path / c.id / "cell.json").write_text(json.dumps(c.to_json()))
    (tmp_path / "unrelated.json").write_text('{"schema": "something else"}')
    bare = cli.wrap.wrap_project(argparse.Namespace(project=None), tmp_path)  # no baselines: nothing gated
    summary = collect(tmp_path, project=bare, run_id="r1")
    assert summary.exit_code() == 1
    assert summary.counts() == {"pass": 1, "fail": 1, "error": 0, "skipped": 0}
    data = summary.to_json()
    assert data["run_id"] == "r1" and data["host"]["python"]
    assert [c["id"] for c in data["cells"]] == ["plain-rss-messages", "plain-rss-stability"]
    stream = io.StringIO()
    render_table(summary, stream)
    table = stream.getvalue()
    assert "frames_per_s=123,456.0" in table and "fail because" in table
    assert table.splitlines()[-1] == "2 cells: 1 pass, 1 fail -> FAIL"
    assert cli.main(["report", str(tmp_path), "--project", str(THIS.root)]) == 1
    for name in ("summary.json", "summary.md", "junit.xml", "report.html", "findings.sarif"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path.parent / "latest").resolve() == tmp_path.resolve()


def test_a_second_interrupt_ends_at_once(tmp_path: Path) -> None:
    # A subject that ignores SIGTERM holds the first stop for the whole grace period (8 s);
    # the second Ctrl-C must not wait for it. The subject touches `ready` once it ignores
    # SIGTERM: one interrupted before that (seen once under load) died at the first stop.
    ready = tmp_path / "ignoring-sigterm"
    stubborn = (
        "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(120)"
    )
    argv = [
        *(sys.executable, "-m", "pyharness", "wrap", "--tool", "rss", "--no-build"),
        *("--out-dir", str(tmp_path / "run"), "--no-progress", "--", sys.executable, "-c", stubborn),
        str(ready),
    ]
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    top = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    orchestrator = psutil.Process(top.pid)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline, "the subject never started"
        time.sleep(0.1)
    seen = [top.pid, *(k.pid for k in orchestrator.children(recursive=True))]
    top.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert top.poll() is None  # the first waits for the subject (its grace period)
    second = time.monotonic()
    top.send_signal(signal.SIGINT)
    top.communicate(timeout=30)
    assert time.monotonic() - second < 3.0
    assert top.returncode == 128 + signal.SIGINT
    assert _descendants_gone(top.pid, seen) == []
