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
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyharness
from pyharness.api import build_variant, load_project
from pyharness.netcore.bench.catalogue import FRAME_SIZE, PEERS, SCENARIOS, Peer, Scenario, Sizes
from pyharness.netcore.bench.measure import SCENARIO_RUNNERS, Context
from pyharness.netcore.bench.model import Measurement, Results, ratios, summarize

log = logging.getLogger("pyharness.netcore.bench")

NOTES = (
    f"All peers: one client to one server over 127.0.0.1, {FRAME_SIZE}-byte payloads, "
    "counted at the receiver; servers and clients each in their own process.",
    "ours, asyncio, uvloop: 4-byte big-endian length + payload. pyzmq: ZeroMQ does its own framing (ZMTP); "
    "PUSH/PULL one way, DEALER/ROUTER for echo.",
    "ours-core queues frames from C++ (send_repeated); every other sender is a Python loop, "
    "one call per frame.",
    "Idle connections are plain sockets for every peer (a ZMTP handshake for pyzmq): the server is measured.",
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
    ctx = Context(Path(pyharness.__file__).resolve().parent.parent, netcore_dir(), sizes)
    started = time.time()
    measurements: list[Measurement] = []
    for r in range(runs):
        for scenario in scenarios:
            cell_peers = [p for p in peers if scenario in p.scenarios]
            shift = r % len(cell_peers) if cell_peers else 0
            for peer in cell_peers[shift:] + cell_peers[:shift]:
                log.info("run %d/%d %s %s", r + 1, runs, scenario, peer.id)
                measurements.extend(SCENARIO_RUNNERS[scenario](ctx, peer, r))
    summaries = summarize(measurements)
    return Results(
        meta=_meta(sizes, runs, started, time.time(), ctx),
        notes=NOTES,
        measurements=tuple(measurements),
        summaries=summaries,
        ratios=ratios(summaries, [p.id for p in PEERS if p.ours]),
        skipped=skipped,
    )


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
