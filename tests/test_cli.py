"""The command line: --help everywhere, exit codes, `report` collection, the progress line."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pyharness import build, cli
from pyharness.model import SUMMARY_SCHEMA, CellReport, Metric
from pyharness.progress import Progress
from pyharness.report.collect import collect, render_table
from pyharness.workloads import SCENARIOS

CHECKOUT = Path(__file__).resolve().parent.parent


def pyharness_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pyharness ARGS`` from the checkout, as a user runs it."""
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    return subprocess.run(
        [sys.executable, "-m", "pyharness", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [[], ["run"], ["matrix"], ["report"], ["scenario"], *(["scenario", s] for s in SCENARIOS)],
    ids=lambda a: " ".join(a) or "top",
)
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pyharness" in out
    if args in ([], ["run"], ["matrix"], ["report"]):
        assert "exit codes" in out


def test_help_documents_the_test_hooks(capsys: pytest.CaptureFixture[str]) -> None:
    for workload, hook in (
        ("stability", "--inject-growth-bytes"),
        ("messages", "--drop-frames"),
        ("stability", "--inject-crash"),
    ):
        with pytest.raises(SystemExit):
            cli.main(["scenario", workload, "--help"])
        assert hook in capsys.readouterr().out


def test_run_exit_codes(plain_build: build.StagedBuild, tmp_path: Path) -> None:
    out = tmp_path / "run"
    passed = pyharness_cli(
        "run",
        "--tool",
        "rss",
        "--workload",
        "stability",
        "--out-dir",
        str(out),
        "--no-progress",
        "--",
        "--cycles",
        "200",
        "--warmup",
        "50",
        cwd=tmp_path,
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "plain-rss-stability: pass" in passed.stdout

    leaky = pyharness_cli(
        "run",
        "--tool",
        "rss",
        "--workload",
        "stability",
        "--json",
        str(tmp_path / "leak.json"),
        "--out-dir",
        str(tmp_path / "leak"),
        "--",
        "--cycles",
        "200",
        "--warmup",
        "50",
        "--inject-growth-bytes",
        "4096",
        cwd=tmp_path,
    )
    assert leaky.returncode == 1, leaky.stdout + leaky.stderr
    assert json.loads((tmp_path / "leak.json").read_text())["status"] == "fail"
    assert "[plain-rss-stability]" in leaky.stderr  # the progress line, phase by phase (not a TTY)

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        busy = pyharness_cli(
            "run",
            "--tool",
            "rss",
            "--workload",
            "messages",
            "--out-dir",
            str(out),
            "--no-progress",
            "--",
            "--port",
            port,
            cwd=tmp_path,
        )
    assert busy.returncode == 2
    assert "Address already in use" in busy.stdout
    assert "Traceback" not in busy.stdout + busy.stderr

    report = pyharness_cli("report", str(out), cwd=tmp_path)
    assert report.returncode == 2, report.stdout + report.stderr  # the worst cell erred
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == SUMMARY_SCHEMA
    assert {c["id"]: c["status"] for c in summary["cells"]} == {
        "plain-rss-stability": "pass",
        "plain-rss-messages": "error",
    }
    assert summary["git"].get("commit")


def test_bad_requests_exit_2_without_traceback(tmp_path: Path) -> None:
    bad_option = pyharness_cli(
        "run",
        "--tool",
        "rss",
        "--workload",
        "messages",
        "--out-dir",
        str(tmp_path),
        "--",
        "--frobnicate",
        cwd=tmp_path,
    )
    assert bad_option.returncode == 2
    assert "bad option for the messages workload" in bad_option.stderr
    no_reports = pyharness_cli("report", str(tmp_path), cwd=tmp_path)
    assert no_reports.returncode == 2
    assert "no cell reports" in no_reports.stderr
    for out in (bad_option, no_reports):
        assert "Traceback" not in out.stderr


def cell(workload: str, status: str, **kw: object) -> CellReport:
    return CellReport(
        "plain",
        "rss",
        workload,
        status,
        f"{status} because",
        1.5,  # type: ignore[arg-type]
        metrics=(Metric("frames_per_s", 123456.0, "frames/s"),),
        **kw,
    )  # type: ignore[arg-type]


def test_collect_summary_and_table(tmp_path: Path) -> None:
    for c in (cell("messages", "pass"), cell("stability", "fail")):
        (tmp_path / c.id).mkdir()
        (tmp_path / c.id / "cell.json").write_text(json.dumps(c.to_json()))
    (tmp_path / "unrelated.json").write_text('{"schema": "something else"}')
    summary = collect(tmp_path, run_id="r1", checkout=tmp_path)  # no baselines there: nothing gated
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
    assert cli.main(["report", str(tmp_path)]) == 1
    for name in ("summary.json", "summary.md", "junit.xml", "report.html"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path.parent / "latest").resolve() == tmp_path.resolve()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_quiet_off_a_terminal_redraws_on_one() -> None:
    plain = io.StringIO()
    p = Progress("plain-rss-messages", plain)
    p.phase("sending")
    p.tick("RSS 20 MiB")
    p.phase("sending")
    p.phase("delivered")
    p.done("pass")
    lines = plain.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in plain.getvalue()
    assert lines[0].startswith("[plain-rss-messages] sending")
    tty = _Tty()
    q = Progress("cell", tty)
    q.phase("running")
    q.done("pass")
    assert tty.getvalue().startswith("\r[cell] running") and tty.getvalue().endswith("\n")
