"""``report.html``: the whole run in one self-contained file (no scripts, no external assets).

It opens with a tool x workload grid, each cell's status colour-coded and
linked to its section, then a summary table, then the run's native coverage
when it has coverage cells (per file, every function never executed and every
branch never taken, with its source line), then one section per cell: its RSS
over time as an inline SVG plot, its metrics with baseline gating, and its findings with their stacks
and, for each frame in the project's own code, the source lines around it.
Source is read only from under ``source_root`` (a report is often shared; it
must not quote arbitrary files named by a tool's stack), and everything is
HTML-escaped. Stacks fold with ``<details>``, which needs no script. Findings
are grouped by the test during which they were reported; known (accepted)
ones are listed apart with their reason, and the run's known findings no
longer seen close the page.

Per cell it plots ``CellReport.series`` (RSS over seconds since the subject
started) with ``CellReport.marks`` (the subject's checkpoints) as labelled
vertical markers; marks outside the series' time span are not drawn. The
time axis shows seconds since the first sample.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from pyharness.model import LEFT_KINDS, CellReport, Coverage, Finding, Frame, Summary, Totals
from pyharness.render import (
    STACK_FRAMES_SHOWN,
    by_test,
    counted,
    coverage_headline,
    duration_text,
    finding_headline,
    frame_text,
    known,
    left_behind,
    limit_text,
    metric_columns,
    short_function,
    tally,
)

SOURCE_CONTEXT_LINES = 3  # lines shown either side of a project frame's line
MAX_PLOT_POINTS = 1200  # more points add bytes to the file, not detail to a 700 px plot
_W, _H = 720, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 44
_MIB = float(1 << 20)

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37}.fail,.error{color:#cf222e;font-weight:bold}.skipped,.info{color:#777}
table.grid td{text-align:center}table.grid td.pass{background:#dafbe1}table.grid td.fail{background:#ffebe9}
table.grid td.error{background:#fff1c2;color:#7d4e00}table.grid td.skipped{background:#eee}
table.grid a{color:inherit;text-decoration:none;display:block}
section{border-top:2px solid #ddd;margin-top:2em}pre{background:#f6f8fa;padding:.5em;overflow-x:auto}
pre.src span.hit{background:#ffe08a;display:inline-block;width:100%}li.project{font-weight:bold}
svg text{font:11px sans-serif;fill:#333}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# -- the RSS plot --------------------------------------------------------------


def rss_series(cell: CellReport) -> list[tuple[float, float]]:
    """The cell's ``(t_seconds, rss_bytes)`` points in time order; malformed points are dropped."""
    return sorted((float(t), float(rss)) for t, rss in cell.series if math.isfinite(t + rss))


def checkpoints(cell: CellReport) -> list[tuple[float, str]]:
    return [(m.t, m.label) for m in cell.marks]


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    # Keep each bucket's lowest and highest sample: a plain stride would drop peaks.
    if len(points) <= MAX_PLOT_POINTS:
        return points
    size = math.ceil(len(points) / (MAX_PLOT_POINTS // 2))
    kept: list[tuple[float, float]] = []
    for i in range(0, len(points), size):
        bucket = points[i : i + size]
        lo, hi = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
        kept.extend(sorted({lo, hi}))
    return kept


def _ticks(lo: float, hi: float, target: int = 5) -> tuple[list[float], int]:
    """Round-numbered ticks covering [lo, hi] (steps of 1, 2 or 5 x 10^k) and their decimals."""
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    decimals = max(0, -math.floor(math.log10(step)))
    return [i * step for i in range(first, last + 1)], decimals


def rss_svg(cell: CellReport) -> str:
    """An inline SVG of RSS (MiB) over time (s), or a note when the cell has no series."""
    points = rss_series(cell)
    if len(points) < 2:
        return "<p class=info>No RSS series recorded for this cell.</p>"
    t0 = points[0][0]
    points = [(t - t0, rss) for t, rss in points]
    shown = _thin(points)
    xt, xd = _ticks(points[0][0], points[-1][0])
    yt, yd = _ticks(min(p[1] for p in points) / _MIB, max(p[1] for p in points) / _MIB)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (t - xt[0]) / (xt[-1] - xt[0]) * pw

    def y(mib: float) -> float:
        return _TOP + ph - (mib - yt[0]) / (yt[-1] - yt[0]) * ph

    peak = max(points, key=lambda p: p[1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'role="img"><title>RSS over time, {_e(cell.id)}</title>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for v in xt:
        parts.append(
            f'<line x1="{x(v):.1f}" y1="{_TOP + ph}" x2="{x(v):.1f}" y2="{_TOP + ph + 4}" stroke="#999"/>'
        )
        parts.append(f'<text x="{x(v):.1f}" y="{_TOP + ph + 16}" text-anchor="middle">{v:.{xd}f}</text>')
    for v in yt:
        parts.append(f'<line x1="{_LEFT}" y1="{y(v):.1f}" x2="{_LEFT + pw}" y2="{y(v):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.{yd}f}</text>')
    parts.append(
        f'<text x="{_LEFT + pw / 2:.0f}" y="{_H - 6}" text-anchor="middle">'
        "time since the first sample (s)</text>"
    )
    parts.append(
        f'<text x="14" y="{_TOP + ph / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_TOP + ph / 2:.0f})">RSS (MiB)</text>'
    )
    # Labels step down in three rows so neighbouring checkpoints stay legible.
    for i, (t_abs, label) in enumerate(checkpoints(cell)):
        t = t_abs - t0
        if points[0][0] <= t <= points[-1][0]:
            parts.append(
                f"<g><title>{_e(label)} at {t:.2f} s</title>"
                f'<line x1="{x(t):.1f}" y1="{_TOP}" x2="{x(t):.1f}" y2="{_TOP + ph}" '
                f'stroke="#d4a017" stroke-dasharray="4 3"/><text x="{x(t) + 3:.1f}" '
                f'y="{_TOP + 12 + 12 * (i % 3)}">{_e(label)}</text></g>'
            )
    line = " ".join(f"{x(t):.1f},{y(r / _MIB):.1f}" for t, r in shown)
    parts.append(f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="{line}"/>')
    parts.append("</svg>")
    caption = (
        f"{len(points)} samples; peak {peak[1] / _MIB:.1f} MiB at {peak[0]:.2f} s; "
        f"last {points[-1][1] / _MIB:.1f} MiB"
    )
    return "".join(parts) + f"<p>{_e(caption)}</p>"


# -- source lines ----------------------------------------------------------------


def _source_file(root: Path, name: str) -> Path | None:
    """``name`` as a file under ``root``; build-relative ``../../csrc/x.cpp`` counts as ``csrc/x.cpp``."""
    given = Path(name)
    candidate = (
        given if given.is_absolute() else root.joinpath(*[p for p in given.parts if p not in ("..", ".")])
    )
    try:
        resolved = candidate.resolve()
        resolved.relative_to(root.resolve())
    except (OSError, ValueError):
        return None  # outside the source tree: not ours to quote
    return resolved if resolved.is_file() else None


def _snippet(root: Path | None, frame: Frame, cache: dict[str, list[str] | None]) -> str:
    if root is None or not frame.file or not frame.line:
        return ""
    if frame.file not in cache:
        path = _source_file(root, frame.file)
        try:
            cache[frame.file] = (
                path.read_text(encoding="utf-8", errors="replace").splitlines() if path else None
            )
        except OSError:
            cache[frame.file] = None
    lines = cache[frame.file]
    if not lines or frame.line > len(lines):
        return ""
    first = max(1, frame.line - SOURCE_CONTEXT_LINES)
    last = min(len(lines), frame.line + SOURCE_CONTEXT_LINES)
    rows = []
    for n in range(first, last + 1):
        text = f"{n:>5} {_e(lines[n - 1])}"
        rows.append(f'<span class="hit">{text}</span>' if n == frame.line else text)
    return f'<pre class="src">{chr(10).join(rows)}</pre>'


# -- sections ------------------------------------------------------------------


def grid(summary: Summary) -> str:
    """Tools (with their variant) down, workloads across: each cell's status, linked to its section."""
    rows: dict[str, dict[str, CellReport]] = {}
    workloads: list[str] = []
    for cell in summary.cells:
        rows.setdefault(f"{cell.tool} ({cell.variant})", {})[cell.workload] = cell
        if cell.workload not in workloads:
            workloads.append(cell.workload)
    out = ['<table class="grid"><tr><th>tool \\ workload', *(f"<th>{_e(w)}" for w in workloads), "</tr>"]
    for label, cells in rows.items():
        out.append(f"<tr><th>{_e(label)}")
        for workload in workloads:
            found = cells.get(workload)
            if found is None:
                out.append("<td>")
                continue
            title = _e(f"{found.status}: {found.reason}")
            link = f'<a href="#{_e(found.id)}" title="{title}">{found.status}</a>'
            out.append(f'<td class="{found.status}">{link}')
        out.append("</tr>")
    return "".join(out) + "</table>"


def _summary_table(summary: Summary) -> str:
    rows = ["<table><tr><th>cell<th>status<th>duration<th>findings<th>metrics failing<th>reason</tr>"]
    for cell in summary.cells:
        failing = sum(1 for m in cell.metrics if m.verdict == "fail")
        rows.append(
            f'<tr><td><a href="#{_e(cell.id)}">{_e(cell.id)}</a><td class="{cell.status}">{cell.status}'
            f'<td class="num">{duration_text(cell.duration_s)}<td class="num">{_e(tally(cell))}'
            f'<td class="num">{failing}/{len(cell.metrics)}<td>{_e(cell.reason)}</tr>'
        )
    return "".join(rows) + "</table>"


def _metrics_table(cell: CellReport) -> str:
    if not cell.metrics:
        return ""
    rows = ["<table><tr><th>metric<th>value<th>baseline<th>delta<th>tolerance<th>verdict</tr>"]
    for metric in cell.metrics:
        value, baseline, delta, tolerance, verdict = metric_columns(metric)
        nums = "".join(f'<td class="num">{_e(v)}' for v in (value, baseline, delta, tolerance))
        rows.append(f'<tr><td>{_e(metric.name)}{nums}<td class="{metric.verdict}">{_e(verdict)}</tr>')
    return "".join(rows) + "</table>"


def _finding(finding: Finding, root: Path | None, cache: dict[str, list[str] | None]) -> str:
    out = [f"<li><b>{_e(finding_headline(finding))}</b>"]
    if finding.suppressed:
        out.append(" <span class=info>(suppressed)</span>")
    if finding.known:
        out.append(f" <span class=info>(known, accepted: {_e(finding.known)})</span>")
    out.append(f"<pre>{_e(finding.message)}</pre>")
    if finding.project_frame is not None:
        out.append(_snippet(root, finding.project_frame, cache))
    if finding.stack:
        out.append(f"<details><summary>stack ({len(finding.stack)} frames)</summary><ol start=0>")
        for i, frame in enumerate(finding.stack):
            project = frame == finding.project_frame
            out.append(f"<li{' class=project' if project else ''}>{_e(frame_text(frame))}")
            # Any top frame whose file lies in the source tree is project code worth quoting;
            # the attributed frame is already quoted above, and deep frames are plumbing.
            if not project and i < STACK_FRAMES_SHOWN:
                out.append(_snippet(root, frame, cache))
            out.append("</li>")
        out.append("</ol></details>")
    return "".join(out) + "</li>"


def _cell_section(cell: CellReport, root: Path | None, cache: dict[str, list[str] | None]) -> str:
    out = [
        f'<section id="{_e(cell.id)}">',
        f'<h2>{_e(cell.id)}: <span class="{cell.status}">{cell.status}</span></h2>',
        f"<p>{_e(cell.reason)} ({duration_text(cell.duration_s)})</p>",
        f'<p class="limit">{_e(limit_text(cell))}</p>' if cell.subject else "",
        rss_svg(cell),
        _metrics_table(cell),
    ]
    shown = counted(cell)
    accepted = known(cell)
    others = [f for f in cell.findings if not f.counts and f.kind not in LEFT_KINDS]
    if shown:
        out.append(f"<h3>Findings ({len(shown)})</h3>")
        for test, findings in by_test(shown):
            if test is not None:
                out.append(f"<h4>{_e(test)}</h4>")
            out.append("<ul>" + "".join(_finding(f, root, cache) for f in findings) + "</ul>")
    if accepted:
        out.append(f"<h3>Known findings ({len(accepted)}, accepted: not failing)</h3><ul>")
        out.extend(_finding(f, root, cache) for f in accepted)
        out.append("</ul>")
    if others:
        out.append(
            f"<details><summary>{len(others)} findings not counted (suppressed or foreign)</summary><ul>"
        )
        out.extend(_finding(f, None, cache) for f in others)
        if cell.omitted.count:
            out.append(
                f"<li>and {cell.omitted.count:,} smaller ones not kept in the report "
                f"({cell.omitted.bytes:,} bytes in all)</li>"
            )
        out.append("</ul></details>")
    out.append(_tests(cell))
    out.append(_artifact_links(cell))
    return "".join(out) + "</section>"


def _tests(cell: CellReport) -> str:
    t = cell.tests
    if t is None:
        return ""
    text = f"<p>Test suite: {t.tests} tests, {t.failures} failed, {t.errors} errors, {t.skipped} skipped."
    if not t.complete:
        text += " <b class=error>It did not run to its end</b>"
        text += f": running when it ended: {_e(t.running)}." if t.running else "."
        if t.not_run:
            text += f" {t.not_run} of {t.collected} collected tests never ran."
    text += "</p>"
    if t.failed:
        text += "<ul>" + "".join(f"<li class=fail>{_e(name)}</li>" for name in t.failed) + "</ul>"
    left = left_behind(cell)
    if left:
        text += "<p>Left open by tests to the end of the session (informational):</p><ul>"
        text += "".join(f"<li>{_e(f.message)}</li>" for f in left) + "</ul>"
    return text


def _artifact_links(cell: CellReport) -> str:
    """Links to the cell's artifacts (relative to the run directory this page sits in);
    pages a tool rendered itself (memray's flame graph) come first."""
    pages = [a for a in cell.artifacts if a.endswith(".html")]
    others = [a for a in cell.artifacts if not a.endswith(".html")]
    # A URL, not a path: "#", "?" or "%" in a file name would otherwise cut the link short.
    links = [f'<a href="{_e(quote(cell.id))}/{_e(quote(a))}">{_e(a)}</a>' for a in (*pages, *others)]
    if not links:
        return ""
    return "<p>Artifacts: " + " · ".join(links) + "</p>"


def _source_line(root: Path | None, file: str, line: int, cache: dict[str, list[str] | None]) -> str:
    """The one source line of a path no tool saw, quoted (empty when it cannot be read)."""
    if root is None:
        return ""
    if file not in cache:
        path = _source_file(root, file)
        try:
            cache[file] = path.read_text(encoding="utf-8", errors="replace").splitlines() if path else None
        except OSError:
            cache[file] = None
    lines = cache[file]
    return f" <code>{_e(lines[line - 1].strip())}</code>" if lines and 0 < line <= len(lines) else ""


def _totals_cells(t: Totals, tag: str) -> str:
    return "".join(
        f"<{tag} class=num>{pct:.1f}% ({covered}/{total})"
        for pct, covered, total in (
            (t.lines_percent, t.lines_covered, t.lines_total),
            (t.branches_percent, t.branches_covered, t.branches_total),
            (t.functions_percent, t.functions_covered, t.functions_total),
        )
    )


def _coverage_section(coverage: Coverage, root: Path | None, cache: dict[str, list[str] | None]) -> str:
    out = [f'<section id="coverage"><h2>Native coverage</h2><p>{_e(coverage_headline(coverage))}</p>']
    out.append("<table><tr><th>file<th>lines<th>branches<th>functions</tr>")
    for folder, totals in coverage.folders():
        out.append(f"<tr><th>{_e(folder)}/{_totals_cells(totals, 'th')}</tr>")
        for f in coverage.files:
            if (f.file.rsplit("/", 1)[0] if "/" in f.file else ".") == folder:
                out.append(f"<tr><td>{_e(f.file)}{_totals_cells(Coverage((f,)).totals(), 'td')}</tr>")
    out.append("</table>")
    functions = coverage.functions_never_executed()
    out.append(f"<h3>Paths no tool saw: {len(functions)} functions never executed</h3><ul>")
    out.extend(
        f"<li><code>{_e(file)}:{fn.line}</code> {_e(short_function(fn.name))}</li>" for file, fn in functions
    )
    branches = coverage.branches_never_taken()
    out.append(
        f"</ul><h3>Paths no tool saw: {len(branches)} lines with an error branch never taken</h3>"
        "<p>The condition ran; one way of it never did.</p><ul>"
    )
    out.extend(
        f"<li><code>{_e(file)}:{b.line}</code> {len(b.missed)} of {b.total} never taken in "
        f"{_e(short_function(b.function))}{_source_line(root, file, b.line, cache)}</li>"
        for file, b in branches
    )
    return "".join(out) + "</ul></section>"


def render(summary: Summary, stream: TextIO, source_root: Path | None = None) -> None:
    """Write the HTML report of ``summary`` to ``stream``; quote source from ``source_root``."""
    cache: dict[str, list[str] | None] = {}
    counts = ", ".join(f"{n} {status}" for status, n in summary.counts().items() if n) or "no cells"
    stream.write(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>pyharness {_e(summary.run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>pyharness {_e(summary.run_id)}: {_e(summary.verdict())}</h1>"
        f"<p>{_e(counts)} · created {_e(summary.created)} · {_e(summary.host.platform_id)} on "
        f"{_e(summary.host.hostname)} · {_e(summary.git.text())}</p>"
    )
    stream.write(grid(summary))
    stream.write(_summary_table(summary))
    if summary.coverage is not None:
        stream.write(_coverage_section(summary.coverage, source_root, cache))
    for cell in summary.cells:
        stream.write(_cell_section(cell, source_root, cache))
    if summary.gone:
        stream.write("<section id=gone><h2>Known findings no longer seen (their entries can go)</h2><ul>")
        stream.write(
            "".join(
                f"<li>{_e(e.describe())}, accepted {_e(e.date)}: {_e(e.reason)}</li>" for e in summary.gone
            )
        )
        stream.write("</ul></section>")
    stream.write("</body></html>\n")
