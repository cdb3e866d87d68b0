"""The command line: --help everywhere, exit codes, `report` collection, stopping, the progress line."""

from __future__ import annotations

import io

import pytest

from pyharness import cli
from pyharness.progress import Progress

COMMANDS = ["run", "matrix", "wrap", "report", "diff", "baseline", "selftest"]


@pytest.mark.parametrize("args", [[], *([c] for c in COMMANDS)], ids=lambda a: " ".join(a) or "top")
def test_every_command_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*args, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pyharness" in out
    if args in ([], ["run"], ["matrix"], ["report"], ["selftest"], ["diff"]):
        assert "exit codes" in out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_quiet_off_a_terminal_redraws_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = io.StringIO()
    p = Progress("plain-rss-messages", plain)
    p.expect(90.0)
    p.phase("sending")
    p.tick("RSS 20 MiB")
    p.phase("sending")
    p.phase("delivered")
    p.done("pass")
    lines = plain.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in plain.getvalue()
    assert lines[0].startswith("[plain-rss-messages] sending") and "of ~1m30s" in lines[0]
    # A long phase in a log: a heartbeat line now and then, so the cell never looks hung.
    monkeypatch.setattr("pyharness.progress.HEARTBEAT_S", 0.0)
    beat = io.StringIO()
    b = Progress("cell", beat)
    b.phase("cycling")
    b.tick("RSS 30 MiB")
    assert beat.getvalue().splitlines()[-1].endswith("...") and "RSS 30 MiB" in beat.getvalue()
    tty = _Tty()
    q = Progress("cell", tty)
    q.phase("running")
    q.done("pass")
    assert tty.getvalue().startswith("\r[cell] running") and tty.getvalue().endswith("\n")
    # The expected time is the subject's: a build's time is shown apart, not counted against it.
    built = io.StringIO()
    c = Progress("asan-asan-messages", built)
    c.expect(30.0)
    c.phase("building asan")
    c.started -= 75.0  # as if the build took 75 s
    c.built()
    c.phase("starting the subject")
    assert built.getvalue().splitlines()[-1].endswith("0s of ~30s (+1m15s build)")
