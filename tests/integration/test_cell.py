"""One cell end to end (real subjects, the staged plain build), its verdict rules, and the gateway.

Each check is shown failing when it must and passing on clean code: injected
per-cycle growth fails the stability cell and the same run without it passes;
a lost frame fails the messages cell; a descriptor kept per cycle stops the
run early with the reason; a port in use, a crashed and a hung subject give
``error`` cells; a finding fails a cell whose subject the tool halted.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from pyharness import build, cell, interrupt, proc
from pyharness.cell.plan import CellRequest
from pyharness.errors import BuildError, HarnessError
from pyharness.interrupt import Interrupted
from pyharness.model import CellReport, Finding, Frame, ParsedCell
from pyharness.proc import LaunchSpec
from pyharness.project import Workload
from tests.conftest import THIS, require_tool
from tests.support import StubParser, run_cell

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


LOOSE = ("--max-server-bytes-per-connection", "4096")


def metrics(report: CellReport) -> dict[str, float]:
    return {m.name: m.value for m in report.metrics}


def test_connections_cell_report_and_artifacts(plain_build: build.Staged, tmp_path: Path) -> None:
    # 100 connections between the top checkpoints are a few pages of RSS: too few to hold the
    # real 256 B gate (the sweep's job); this test is about the report, so the gate is loose.
    report = run_cell(plain_build, tmp_path, "connections", "--checkpoints", "50,100,200", *LOOSE)
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
    assert written["preset"] == "custom"  # sized by hand: compared with no baseline
    assert {"cell.json", "events.jsonl", "rss.csv", "subject.stderr"} <= set(written["artifacts"])
    with (tmp_path / "cell" / "rss.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and rows[0].keys() == {"t_s", "rss_bytes", "tree_rss_bytes", "fds"}
    # The subject's series, not the tree's: the fleet is a separate process.
    assert all(int(r["tree_rss_bytes"]) >= int(r["rss_bytes"]) > 0 for r in rows)
    again = CellReport.from_json(written)
    assert again.status == "pass" and again.subject is not None and again.series and again.marks


def test_stability_clean_passes(plain_build: build.Staged, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "200", "--warmup", "50")
    assert report.status == "pass", report.reason
    assert metrics(report)["fds_start"] == metrics(report)["fds_end"]


def test_stability_injected_growth_fails(plain_build: build.Staged, tmp_path: Path) -> None:
    args = ("--cycles", "200", "--warmup", "50", "--inject-growth-bytes", "4096")
    report = run_cell(plain_build, tmp_path, "stability", *args)
    assert report.status == "fail"
    assert "RSS growth" in report.reason
    assert metrics(report)["rss_slope_bytes_per_cycle"] > 3000  # ~4 KiB a cycle, plus the list's own slot


def test_descriptor_growth_stops_the_run_early(plain_build: build.Staged, tmp_path: Path) -> None:
    started = time.monotonic()
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "100000", "--inject-fd-leak")
    assert report.status == "fail"
    assert "sockets are not closed" in report.reason and "after 5 cycles" in report.reason, report.reason
    assert time.monotonic() - started < 60  # not the time limit: the check stopped it


def test_messages_exact_delivery_passes(plain_build: build.Staged, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "messages", "--messages", "5000")
    assert report.status == "pass", report.reason
    m = metrics(report)
    assert m["frames_received"] == 5000 and m["bytes_received"] == 5000 * 1024
    assert m["rss_peak"] >= max(m["rss_before"], m["rss_after"])


def test_messages_lost_frame_fails(plain_build: build.Staged, tmp_path: Path) -> None:
    args = ("--messages", "5000", "--drop-frames", "1", "--deliver-timeout", "1")
    report = run_cell(plain_build, tmp_path, "messages", *args)
    assert report.status == "fail"
    assert "4,999 of 5,000 frames" in report.reason


def test_port_in_use_is_an_error_cell(plain_build: build.Staged, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        report = run_cell(plain_build, tmp_path, "messages", "--port", str(port))
    assert report.status == "error"
    assert "Address already in use" in report.reason
    assert "Traceback" not in report.reason


def test_crashed_subject_is_an_error_cell(plain_build: build.Staged, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "50", "--inject-crash")
    assert report.status == "error"
    assert "killed by SIGABRT" in report.reason
    assert report.subject is not None and report.subject.signal == signal.SIGABRT


def test_hung_subject_times_out_into_an_error_cell(plain_build: build.Staged, tmp_path: Path) -> None:
    report = run_cell(plain_build, tmp_path, "stability", "--cycles", "1000000", timeout_s=1.5)
    assert report.status == "error"
    assert "timed out" in report.reason and "last step" in report.reason
    assert report.subject is not None and report.subject.timed_out


def test_a_finding_fails_a_cell_whose_subject_was_halted(plain_build: build.Staged, tmp_path: Path) -> None:
    # As ASan halts a subject on an invalid read: the subject dies, the report names the defect.
    finding = Finding(
        "rss",
        "heap-use-after-free",
        "READ of size 4",
        stack=(Frame("netcore::x()", "csrc/core/reactor.cpp", 10),),
    )
    req = CellRequest(
        "rss", "stability", tmp_path, options=("--cycles", "50", "--inject-crash"), cell_dir=tmp_path / "c"
    )
    report = cell.run_cell(
        THIS, req,
        options=cell.Options(
            stage=lambda _p, _v, _f: plain_build, parser=StubParser("rss", lambda _d: ParsedCell((finding,)))
        ),
    )  # fmt: skip
    assert report.status == "fail", report.reason
    assert report.reason.startswith(
        "1 rss finding(s), first: heap-use-after-free at csrc/core/reactor.cpp:10"
    )
    assert "killed by SIGABRT" in report.reason


@pytest.mark.build
def test_build_failure_is_an_error_cell(tmp_path: Path) -> None:
    def broken(_project: object, _variant: str, _phase: object) -> build.Staged:
        raise BuildError("compile (plain) failed (exit 1): ninja")

    req = CellRequest("rss", "messages", tmp_path, cell_dir=tmp_path / "c")
    report = cell.run_cell(THIS, req, options=cell.Options(stage=broken))
    assert (report.status, report.reason) == ("error", "compile (plain) failed (exit 1): ninja")
    assert json.loads((tmp_path / "c" / "cell.json").read_text())["status"] == "error"


@pytest.mark.tools
@pytest.mark.slow
def test_a_hung_subject_under_a_slow_tool_ends_at_its_limit(tmp_path: Path) -> None:
    require_tool("valgrind", "apt-get install valgrind")
    hung = Workload("hung", "sleeps forever", command=("python", "-c", "import time; time.sleep(3600)"))
    started = time.monotonic()
    report = cell.run_cell(THIS, CellRequest("valgrind", hung, tmp_path, timeout_s=8.0, build=False))
    took = time.monotonic() - started
    assert report.status == "error" and "timed out" in report.reason, report.reason
    # 8 s, then the grace period for valgrind to write its report: never 8 s x 60 (x 60).
    assert took < 8.0 + proc.DEFAULT_GRACE_S + 15.0


def test_an_interrupt_stops_the_subject_and_reports_the_cell(
    plain_build: build.Staged, tmp_path: Path
) -> None:
    timer = threading.Timer(2.0, interrupt.request, args=(signal.SIGTERM,))
    timer.start()
    try:
        with pytest.raises(Interrupted) as stopped:
            run_cell(plain_build, tmp_path, "stability", "--cycles", "1000000")
    finally:
        timer.cancel()
        interrupt.reset()
    pid = stopped.value.pid
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    written = CellReport.from_json(json.loads((tmp_path / "cell" / "cell.json").read_text()))
    assert (written.status, written.reason) == ("error", "interrupted by SIGTERM")


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


def test_gateway_timeout_sigterm_then_sigkill() -> None:
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


def test_gateway_stops_on_an_interrupt_request() -> None:
    timer = threading.Timer(0.5, interrupt.request, args=(signal.SIGINT,))
    timer.start()
    try:
        with pytest.raises(Interrupted) as stopped:
            proc.run(py("import time; time.sleep(60)"), sample_interval=None)
    finally:
        timer.cancel()
        interrupt.reset()
    assert stopped.value.signum == signal.SIGINT
    assert stopped.value.duration_s is not None and stopped.value.duration_s < 10


def test_gateway_reports_a_missing_program() -> None:
    with pytest.raises(HarnessError, match="could not start"):
        proc.run(LaunchSpec(("/nonexistent/prog",), {}, 5.0))


@pytest.mark.tools
def test_a_stack_cut_short_is_run_again_with_full_unwinding(
    plain_build: build.Staged, tmp_path: Path
) -> None:
    """As LSan's fast unwinder stops at an interpreter frame: the first run's stack is cut short
    before the project's frame; the re-run with full unwinding reaches it, and the cell fails on it."""
    interpreter = (Frame("malloc"), Frame("_PyLong_New", object="libpython3.11.so.1.0"))
    cut = Finding("asan", "leak.direct", "Direct leak", bytes=32, blocks=1, stack=interpreter, truncated=True)
    whole = replace(
        cut,
        stack=(*cut.stack, Frame("server_stats_dict", "csrc/bindings/netcore_module.cpp", 82)),
        truncated=False,
    )
    seen: list[bool] = []

    def parser(cell_dir: Path) -> ParsedCell:
        again = (cell_dir / cell.FAST_UNWIND_DIR).is_dir()  # the first run's artifacts were moved aside
        seen.append(again)
        return ParsedCell((whole if again else cut,))

    req = CellRequest(
        "asan", "stability", tmp_path, variant="plain", options=("--cycles", "20"), cell_dir=tmp_path / "c"
    )
    report = cell.run_cell(
        THIS,
        req,
        options=cell.Options(stage=lambda _p, _v, _f: plain_build, parser=StubParser("asan", parser)),
    )
    assert seen == [False, True]
    assert report.status == "fail" and "leak.direct at csrc/bindings/netcore_module.cpp:82" in report.reason
    assert report.subject is not None and report.subject.full_unwind


@pytest.mark.tools
def test_a_stack_still_cut_short_is_never_a_silent_pass(plain_build: build.Staged, tmp_path: Path) -> None:
    interpreter = (Frame("malloc"), Frame("_PyLong_New", object="libpython3.11.so.1.0"))
    cut = Finding("asan", "leak.direct", "Direct leak", bytes=32, blocks=1, stack=interpreter, truncated=True)
    req = CellRequest(
        "asan", "stability", tmp_path, variant="plain", options=("--cycles", "20"), cell_dir=tmp_path / "c"
    )
    report = cell.run_cell(
        THIS,
        req,
        options=cell.Options(
            stage=lambda _p, _v, _f: plain_build, parser=StubParser("asan", lambda _d: ParsedCell((cut,)))
        ),
    )
    assert report.status == "error" and "cut short by the unwinder" in report.reason
