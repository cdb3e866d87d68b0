"""Runs the matrix: every scenario, every available peer, run by run with peers interleaved; saves JSON.

Interleaving (run 1 of every peer, then run 2 of every peer, the order
rotated each run) spreads a noisy machine's slow moments over all peers
instead of handing them to whichever peer ran last.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyharness
from pyharness.api import build_variant, load_project
from pyharness.netcore.bench.catalogue import (
    FRAME_SIZE,
    LIMIT_EXECUTABLE,
    METRIC_BY_ID,
    PEERS,
    SCENARIOS,
    Peer,
    Scenario,
    Sizes,
    comparisons,
)
from pyharness.netcore.bench.measure import SCENARIO_RUNNERS, Context
from pyharness.netcore.bench.model import Measurement, Results, Wanted, ratios, summarize

log = logging.getLogger("pyharness.netcore.bench")

NOTES = (
    f"All peers: one client to one server over 127.0.0.1, {FRAME_SIZE}-byte payloads, "
    "counted at the receiver; servers and clients each in their own process.",
    "ours, asyncio, uvloop: 4-byte big-endian length + payload. pyzmq: ZeroMQ does its own framing (ZMTP); "
    "PUSH/PULL one way, DEALER/ROUTER for echo.",
    "ours-core queues frames from C++ (send_repeated); every other sender is a Python loop, "
    "one call per frame.",
    "Idle connections are plain sockets for every peer (a ZMTP handshake for pyzmq): the server is measured.",
    "limit: csrc/bench/loopback_limit.cpp, a blocking C++ sender (one write(2) per 1 KiB) and receiver "
    "(256 KiB recv), no framing, TCP_NODELAY as every peer; limit-writev: the same, 256 x 1 KiB per "
    "writev(2) from one payload.",
    "Ratios are taken within each run (peers interleaved), then summarized over the runs; a row is "
    "inconclusive when the runs' spread (IQR) is wider than its lead over the target; for a ratio both are "
    "factors: lead = median / target (target / median where lower is better), IQR = q3 / q1.",
)


def netcore_dir() -> Path | None:
    """Where ``pyharness._netcore`` is: the package's own (installed), else a staged ``plain`` build."""
    try:
        from pyharness import _netcore  # noqa: PLC0415 - a probe: an installed package has the core
    except ImportError:
        staged = build_variant(load_project(), "plain")  # a checkout: installed copies have the core
        assert staged.site_dir is not None
        path = str(staged.site_dir / "pyharness")
        if path not in pyharness.__path__:
            pyharness.__path__.append(path)
        from pyharness import _netcore  # noqa: PLC0415 - resolvable only after the path change
    return Path(_netcore.__file__).parent


def limit_executable(netcore: Path | None) -> Path | None:
    """``loopback_limit`` beside the staged core (``stage/bin``), else on ``PATH`` (an installed package)."""
    if netcore is not None:
        staged = netcore.parent / "bin" / LIMIT_EXECUTABLE
        if staged.is_file() and os.access(staged, os.X_OK):
            return staged
    found = shutil.which(LIMIT_EXECUTABLE)
    return Path(found) if found else None


def select_peers(ids: Sequence[str] | None) -> tuple[list[Peer], dict[str, str]]:
    """The requested peers that can run here, and why the others are skipped."""
    wanted = [p for p in PEERS if ids is None or p.id in ids]
    skipped = {p.id: f"python package {p.module!r} is not installed" for p in wanted if not p.available()}
    return [p for p in wanted if p.id not in skipped], skipped


def run(
    sizes: Sizes,
    runs: int,
    peers: Sequence[Peer],
    skipped: dict[str, str],
    scenarios: Sequence[Scenario] = SCENARIOS,
) -> Results:
    """Measure everything; a failing cell raises (a benchmark that lost frames has no number)."""
    core = netcore_dir()
    ctx = Context(Path(pyharness.__file__).resolve().parent.parent, core, sizes, limit_executable(core))
    if ctx.limit_exe is None:
        missing = [p for p in peers if p.impl == "limit"]
        skipped = {
            **skipped,
            **{p.id: f"{LIMIT_EXECUTABLE} is not built (meson option bench)" for p in missing},
        }
        peers = [p for p in peers if p.impl != "limit"]
    started = time.time()
    load_before = os.getloadavg()
    load_per_run: list[tuple[float, float, float]] = []
    measurements: list[Measurement] = []
    for r in range(runs):
        load_per_run.append(os.getloadavg())
        for scenario in scenarios:
            cell_peers = [p for p in peers if scenario in p.scenarios]
            shift = r % len(cell_peers) if cell_peers else 0
            for peer in cell_peers[shift:] + cell_peers[:shift]:
                log.info("run %d/%d %s %s", r + 1, runs, scenario, peer.id)
                measurements.extend(SCENARIO_RUNNERS[scenario](ctx, peer, r))
    summaries = summarize(measurements)
    meta = _meta(sizes, runs, started, time.time(), ctx)
    meta["loadavg_at_start"] = load_before
    meta["loadavg_per_run"] = load_per_run
    return Results(
        meta=meta,
        notes=NOTES,
        measurements=tuple(measurements),
        summaries=summaries,
        ratios=ratios(measurements, wanted()),
        skipped=skipped,
    )


def wanted() -> list[Wanted]:
    """The catalogue's comparisons, with each metric's way of comparing and its good direction."""
    out = []
    for c in comparisons():
        metric = METRIC_BY_ID[c.metric]
        out.append(Wanted(c.metric, c.ours, c.peer, metric.compare, metric.better, c.target, c.why))
    return out


def _meta(sizes: Sizes, runs: int, started: float, finished: float, ctx: Context) -> dict[str, Any]:
    variant = None
    try:
        from pyharness import _build_config  # type: ignore[attr-defined]  # noqa: PLC0415 - generated

        variant = str(_build_config.VARIANT)
    except ImportError:
        pass
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(finished - started, 1),
        "runs": runs,
        "sizes": vars(sizes),
        "frame_size": FRAME_SIZE,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "netcore": str(ctx.netcore_dir),
        "limit": str(ctx.limit_exe) if ctx.limit_exe else None,
        "variant": variant,
    }


def save(results: Results, path: Path | None, reports_dir: Path) -> list[Path]:
    """Write the JSON to ``path``, or to ``reports_dir/<timestamp>.json`` and ``reports_dir/latest.json``."""
    text = json.dumps(results.to_json(), indent=1) + "\n"
    targets = (
        [path]
        if path is not None
        else [reports_dir / (time.strftime("%Y%m%dT%H%M%S") + ".json"), reports_dir / "latest.json"]
    )
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return targets
