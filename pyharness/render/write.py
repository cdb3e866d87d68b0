"""Writing a run's reports into ``reports/<run-id>/`` and repointing ``reports/latest``.

Every file is rendered in memory first, then written to a temporary file in
the same directory and renamed over its final name (``os.replace`` is atomic
within one filesystem), so a reader never sees half a report and a renderer
that raises leaves nothing behind. ``summary.json`` is written last: a
watcher that waits for it finds the other files complete.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pyharness.errors import ConfigError
from pyharness.files import write_atomic
from pyharness.model import Summary
from pyharness.render import html, junit, markdown, sarif

LATEST = "latest"
__all__ = ["LATEST", "WrittenRun", "point_latest", "write_atomic", "write_run"]


@dataclass(frozen=True)
class WrittenRun:
    """Where a run's reports went."""

    run_dir: Path
    summary_json: Path
    summary_md: Path
    junit_xml: Path
    report_html: Path
    findings_sarif: Path
    latest: Path


def _text(render: Callable[[TextIO], None]) -> str:
    buffer = io.StringIO()
    render(buffer)
    return buffer.getvalue()


def point_latest(run_dir: Path) -> Path:
    """Make ``<run_dir>/../latest`` a relative symlink to ``run_dir``, replacing any old one atomically."""
    latest = run_dir.parent / LATEST
    if latest.exists() and not latest.is_symlink():
        raise ConfigError(f"{latest} exists and is not a symlink; move it away so it can point at runs")
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        os.symlink(run_dir.name, tmp)  # relative: the reports folder can be moved or uploaded whole
        os.replace(tmp, latest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return latest


def write_run(summary: Summary, run_dir: Path, *, source_root: Path | None = None) -> WrittenRun:
    """Write summary.json, summary.md, junit.xml, report.html and findings.sarif into ``run_dir``;
    point ``latest`` at it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    texts = {
        "summary.md": _text(lambda s: markdown.render(summary, s)),
        "junit.xml": _text(lambda s: junit.render(summary, s)),
        "report.html": _text(lambda s: html.render(summary, s, source_root=source_root)),
        "findings.sarif": _text(lambda s: sarif.render(summary, s, source_root=source_root)),
        "summary.json": json.dumps(summary.to_json(), indent=2) + "\n",
    }
    for name, text in texts.items():  # dicts keep order: summary.json is last
        write_atomic(run_dir / name, text)
    return WrittenRun(
        run_dir=run_dir,
        summary_json=run_dir / "summary.json",
        summary_md=run_dir / "summary.md",
        junit_xml=run_dir / "junit.xml",
        report_html=run_dir / "report.html",
        findings_sarif=run_dir / "findings.sarif",
        latest=point_latest(run_dir),
    )
