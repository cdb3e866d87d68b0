"""``pyharness wrap``: any command under a tool, judged into a cell report.

Under ASan a command that leaks through the canary extension fails with the
leak attributed to the canary's source line; the same command doing clean
work passes; a command that exits 3 gives a failing cell naming the code.
The commands run in a scratch directory (``--project`` names the checkout, whose
asan variant is built and put first on PYTHONPATH); outside any project, wrap
builds nothing and says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pyharness import cli
from pyharness.cli import wrap
from pyharness.model import EXIT_ERROR


def test_workload_ids_and_bad_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert wrap.workload_id(["python", "-m", "pytest", "-q"]) == "wrap-pytest"
    assert wrap.workload_id(["/usr/bin/make", "check"]) == "wrap-make"
    monkeypatch.chdir(tmp_path)
    assert cli.main(["wrap", "--tool", "asan"]) == EXIT_ERROR  # no command
    assert cli.main(["wrap", "--tool", "asan", "--", "no-such-command-here"]) == EXIT_ERROR
    with pytest.raises(SystemExit):
        cli.main(["wrap", "--tool", "gdb", "--", "true"])  # argparse: not a tool
    bare = wrap.wrap_project(argparse.Namespace(project=None), tmp_path)
    assert bare.build == "none" and bare.root == tmp_path and bare.attribution.sources == (".",)
