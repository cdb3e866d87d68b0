"""The native demo's numbers for the baselines: ``memory_profile_demo MODE --json``, repeated.

A baseline probe of this repository's table (``[tool.pyharness]
baseline-probes``): ``pyharness baseline`` calls ``probe`` once per run with a
way to stage a variant and a place to add samples. The demo is the plain
build's own executable (``stage/bin``); its per-connection slope, throughput
and stability slope are recorded under the tool id ``demo``, and the docs'
tables quote them beside the Python-hosted figures.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyharness.api import BaselineKey, Direction, HarnessError, LaunchSpec, ProbeContext, Staged, run_command

DEMO = "memory_profile_demo"
DEMO_TIMEOUT_S = 300.0
# The native demo's results (its --json keys) recorded as (workload, metric, unit, direction).
DEMO_RESULTS: tuple[tuple[str, str, str, str, Direction], ...] = (
    (
        "connections",
        "server_bytes_per_connection",
        "server_bytes_per_connection",
        "B/connection",
        "lower-is-better",
    ),
    (
        "connections",
        "client_bytes_per_connection",
        "client_bytes_per_connection",
        "B/connection",
        "lower-is-better",
    ),
    (
        "connections",
        "kernel_slab_bytes_per_connection",
        "kernel_slab_bytes_per_connection",
        "B/connection",
        "both",
    ),
    ("messages", "frames_per_second", "frames_per_s", "frames/s", "higher-is-better"),
    ("messages", "peak_rss_bytes", "rss_peak", "B", "lower-is-better"),
    (
        "stability",
        "rss_bytes_per_cycle_after_warmup",
        "rss_slope_bytes_per_cycle",
        "B/cycle",
        "lower-is-better",
    ),
)
DEMO_CONNECTION_POINTS = (0, 100, 1000, 10000)


def run_demo(staged: Staged, mode: str) -> dict[str, Any]:
    """One ``memory_profile_demo MODE --json`` run through the gateway; its parsed output."""
    if staged.bin_dir is None:
        raise HarnessError(f"{DEMO} needs a staged build of the core (its bin directory)")
    spec = LaunchSpec(
        (str(staged.bin_dir / DEMO), mode, "--json"),
        {**os.environ, "LC_ALL": "C"},
        DEMO_TIMEOUT_S,
        label=DEMO,
    )
    result = run_command(spec, sample_interval=None)
    if not result.ok:
        raise HarnessError(f"{DEMO} {mode}: {result.describe()}: {result.stderr_tail.strip()}")
    try:
        doc: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError as err:
        raise HarnessError(f"{DEMO} {mode} --json printed no JSON: {err}") from err
    return doc


def probe(ctx: ProbeContext) -> None:
    """Run every demo mode once into ``ctx``'s samples."""
    staged = ctx.stage("plain")
    for mode in ("connections", "messages", "stability"):
        doc = run_demo(staged, mode)
        results = doc.get("results", {})
        for workload, key_in_json, metric, unit, direction in DEMO_RESULTS:
            if workload == mode and key_in_json in results:
                ctx.add(BaselineKey("plain", "demo", mode, metric), results[key_in_json], unit, direction)
        if mode == "connections":
            for point in doc.get("checkpoints", []):
                if point.get("x") in DEMO_CONNECTION_POINTS and "connections" in str(point.get("label")):
                    key = BaselineKey("plain", "demo", mode, f"server_rss_{point['x']}")
                    ctx.add(key, point["rss_bytes"], "B", "lower-is-better")
