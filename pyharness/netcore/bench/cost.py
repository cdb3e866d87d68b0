"""``python -m pyharness.netcore.bench.cost``: instructions per frame and per cycle, counted by callgrind.

Wall-clock rates on a shared 2-core machine move by a factor of two between
runs; instruction counts do not. Each workload runs in a child under
``valgrind --tool=callgrind --separate-threads=yes`` at two sizes, and the
cost per unit is the difference of the two counts divided by the difference
of the sizes, so interpreter start-up, imports and the server's start cancel.

What is counted is the calling thread, the one a user's code runs on:
instructions per frame of a Python ``send`` loop (the binding, the core's
queueing; a ``flush`` every 60 frames keeps the queue from regrowing) and per
connect/send/disconnect cycle. The reactor threads are
reported too, as ``all threads``, but how much work they do per wake-up
depends on how valgrind interleaved the threads, so that column is not
deterministic and is not the gated one.

``--plant PCT`` adds about PCT percent of extra work to every send (summing a
bytes object of calibrated length next to each send; the call is always made,
only the length varies), to show that the probe sees a regression of that size.

The gate (``--gate``, what ``nox -s cost`` runs): the calling thread's counts
against ``baselines/<platform>.json`` (tool ``callgrind``, workload ``cost``,
recorded by ``pyharness baseline`` through ``probe``, this repository's baseline
probe), each with a tolerance taken from the runs' spread and a floor of 1%
(``baselines.RELATIVE_FLOORS``): exit 1 when a count is beyond it.
``--rebaseline --runs 5`` re-measures just these entries, through the same probe.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyharness
from pyharness.api import (
    BaselineKey,
    Baselines,
    BaselineSamples,
    ConfigError,
    HarnessError,
    LaunchSpec,
    ProbeContext,
    baseline_path,
    beyond_tolerance,
    build_variant,
    load_baselines,
    load_project,
    run_command,
    write_baselines,
)

# Sizes: large enough that per-unit cost dominates noise, small enough for valgrind (~50x slower).
FRAMES = (20_000, 60_000)
CYCLES = (300, 900)
FRAME_SIZE = 1024
TIMEOUT_S = 600.0
# The send loop flushes every FLUSH_EVERY frames (60 x 1,028 B fit the queue's
# first 64 KiB buffer): the queue never regrows, and whether the reactor or the
# flush writes a batch changes nothing on the calling thread but a few branches.
# The mark is never reached, so no send waits or raises.
FLUSH_EVERY = 60
SEND_HIGH_WATER = 128 * 1024 * 1024
# callgrind's per-file total ("summary:" in the header, "totals:" at the end).
TOTALS = re.compile(r"^(?:totals|summary):\s+(\d+)", re.MULTILINE)

CHILD = r"""
import sys
import pyharness
pyharness.__path__.append(sys.argv[1])
from pyharness import _netcore as n
what, count, plant = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
BATCH = int(sys.argv[7])
planted = bytes(plant)  # summing it costs a fixed amount per byte
server = n.MessagingServer("cost")
port = server.start("127.0.0.1", 0)
payload = b"c" * int(sys.argv[5])
if what == "frames":
    client = n.MessagingClient("cost", send_high_water=int(sys.argv[6]))
    client.connect("127.0.0.1", port, timeout=60.0)
    send, flush = client.send, client.flush
    for k in range(count):
        send(payload)
        sum(planted)  # always called: only its length, the planted work, varies
        if k % BATCH == BATCH - 1:
            flush(600.0)
    client.flush(timeout=600.0)
    client.disconnect(timeout=600.0)
else:
    def connected():
        c = n.MessagingClient("cost")
        c.connect("127.0.0.1", port, timeout=60.0)
        return c
    for _ in range(count):
        c = connected()
        c.send(payload)
        sum(planted)
        c.disconnect(timeout=60.0)
    del c
if not server.wait_for(messages=count, sessions=0, timeout=600.0):
    raise SystemExit(f"the server counted {server.stats()} of {count} frames")
server.stop()
"""


@dataclass(frozen=True)
class Count:
    """Instructions of one callgrind run: the calling (main) thread, and all threads."""

    main: int
    total: int


def _netcore_dir() -> Path:
    from pyharness.netcore.bench.runner import netcore_dir  # noqa: PLC0415 - stages a build when needed

    found = netcore_dir()
    if found is None:
        raise HarnessError("no pyharness._netcore to measure")
    return found


def run_once(netcore: Path, what: str, count: int, plant: int, workdir: Path) -> Count:
    """One callgrind run of ``count`` frames or cycles; the instruction counts per thread."""
    out = workdir / f"cg.{what}.{count}.{plant}"
    argv = (
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        "--dump-instr=no",
        f"--callgrind-out-file={out}.%p",
        sys.executable,
        "-P",
        "-c",
        CHILD,
        str(netcore),
        what,
        str(count),
        str(plant),
        str(FRAME_SIZE),
        str(SEND_HIGH_WATER),
        str(FLUSH_EVERY),
    )
    env = dict(os.environ)
    # str hashes are salted per process: dict probe lengths (every global lookup
    # of the loop) then differ from run to run by about 1%. One fixed seed.
    env["PYTHONHASHSEED"] = "0"
    package_parent = str(Path(pyharness.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    result = run_command(LaunchSpec(argv, env, TIMEOUT_S, label="callgrind"), sample_interval=None)
    if not result.ok:
        raise HarnessError(f"callgrind run failed ({result.describe()}): {result.stderr_tail}")
    files = sorted(workdir.glob(f"{out.name}.*"))
    counts: dict[int, int] = {}
    for f in files:
        m = re.search(r"-(\d+)$", f.name)
        found = TOTALS.search(f.read_text(errors="replace"))
        if m and found:
            counts[int(m.group(1))] = int(found.group(1))
        f.unlink()
    if 1 not in counts:
        raise HarnessError(
            f"no callgrind output for the main thread in {workdir} ({[f.name for f in files]})"
        )
    return Count(main=counts[1], total=sum(counts.values()))


def per_unit(
    netcore: Path, what: str, sizes: tuple[int, int], plant: int, workdir: Path
) -> tuple[float, float]:
    """Instructions per frame (or cycle): the calling thread's, and all threads'."""
    small = run_once(netcore, what, sizes[0], plant, workdir)
    large = run_once(netcore, what, sizes[1], plant, workdir)
    units = sizes[1] - sizes[0]
    return (large.main - small.main) / units, (large.total - small.total) / units


# What the baselines record and the gate compares: (workload, metric, unit) per measurement.
GATED = {
    "frames": ("instructions_per_frame", "instructions/frame"),
    "cycles": ("instructions_per_cycle", "instructions/cycle"),
}
KEY_VARIANT, KEY_TOOL, KEY_WORKLOAD = "plain", "callgrind", "cost"


def key(what: str) -> BaselineKey:
    return BaselineKey(KEY_VARIANT, KEY_TOOL, KEY_WORKLOAD, GATED[what][0])


def measure(
    netcore: Path, plant: float = 0.0, only: str | None = None, units: Mapping[str, float] | None = None
) -> dict[str, float]:
    """One count of each measurement (or of ``only``): the calling thread's instructions per unit.

    ``units``: each measurement's known cost per unit (the baselines'), to calibrate ``plant`` by.
    """
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pyharness-cost-") as tmp:
        for what, sizes in (("frames", FRAMES), ("cycles", CYCLES)):
            if only and what != only:
                continue
            known = (units or {}).get(what)
            planted = calibrated_plant(netcore, what, sizes, plant, Path(tmp), unit=known) if plant else 0
            out[what], _ = per_unit(netcore, what, sizes, planted, Path(tmp))
    return out


def calibrated_plant(
    netcore: Path, what: str, sizes: tuple[int, int], pct: float, workdir: Path, *, unit: float | None = None
) -> int:
    """Bytes of planted work that cost about ``pct`` percent of one unit.

    The planted work's cost per unit comes from two runs of the small size, with and without
    it: the start-up is the same count in both. ``unit`` is the unit's own instructions (the
    gate passes its baseline's); when None, a run of the large size measures it.
    """
    small = sizes[0]
    base = run_once(netcore, what, small, 0, workdir).main
    with_1000 = run_once(netcore, what, small, 1000, workdir).main
    if unit is None:
        unit = (run_once(netcore, what, sizes[1], 0, workdir).main - base) / (sizes[1] - small)
    per_byte = (with_1000 - base) / small / 1000
    return max(1, round(unit * pct / 100 / per_byte))


def probe(ctx: ProbeContext) -> None:
    """This repository's baseline probe: one count of each measurement on the plain build."""
    if shutil.which("valgrind") is None:
        raise HarnessError("the cost baselines need valgrind (apt-get install valgrind)")
    staged = ctx.stage(KEY_VARIANT)
    assert staged.site_dir is not None
    for what, value in measure(staged.site_dir / "pyharness").items():
        ctx.add(key(what), value, GATED[what][1], "lower-is-better")


def rebaseline(path: Path, runs: int) -> list[str]:
    """Re-measure this probe's entries only (``runs`` counts each) and write them into the file at ``path``.

    The same probe and the same derivation as ``pyharness baseline``
    (``calibrate.Samples``), without re-running every cell of the matrix: after
    a core change that moves the instruction counts, the cost entries are
    measured again and the others (RSS, rates, allocations) are left as they were.
    """
    proj = load_project()
    samples = BaselineSamples()
    ctx = ProbeContext(proj, lambda variant: build_variant(proj, variant), samples.add)
    for _ in range(runs):
        probe(ctx)
    table = load_baselines(path)
    fresh = samples.derive()
    write_baselines(path, {**table.entries, **fresh}, platform_name=table.platform)
    lines = []
    for k, entry in fresh.items():
        old = table.entries.get(k)
        was = f"{old.value:,.1f} ± {old.tolerance:,.1f}" if old else "none"
        lines.append(f"{k.metric}: {entry.value:,.1f} ± {entry.tolerance:,.1f} {entry.unit} (was {was})")
    return lines


def gate(counts: dict[str, float], table: Baselines) -> tuple[list[str], bool]:
    """Lines for people, and whether every count is within its baseline's tolerance."""
    lines, ok = [], True
    for what, value in counts.items():
        metric, unit = GATED[what]
        entry = table.entries.get(key(what))
        if entry is None:
            lines.append(f"{metric}: {value:,.0f} {unit}, no baseline (measure one: nox -s baseline)")
            ok = False
            continue
        worse = beyond_tolerance(value, entry.value, entry.tolerance, entry.direction)
        ok = ok and not worse
        delta = 100.0 * (value - entry.value) / entry.value
        lines.append(
            f"{metric}: {value:,.0f} {unit}, baseline {entry.value:,.0f} ± {entry.tolerance:,.0f} "
            f"({delta:+.2f}%): {'FAIL' if worse else 'pass'}"
        )
    return lines, ok


def spread(values: list[float]) -> float:
    """(max - min) / median, in percent."""
    return 100.0 * (max(values) - min(values)) / statistics.median(values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyharness.netcore.bench.cost", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--runs", type=int, default=2, help="repetitions of each measurement (default 2)")
    parser.add_argument(
        "--plant", type=float, default=0.0, help="add about this many percent of work per send"
    )
    parser.add_argument("--only", choices=("frames", "cycles"), default=None)
    parser.add_argument(
        "--gate",
        nargs="?",
        const="",
        metavar="BASELINES",
        help="compare one count of each with the baselines (default baselines/<platform>.json); exit 1 "
        "when one is beyond its tolerance",
    )
    parser.add_argument(
        "--rebaseline",
        nargs="?",
        const="",
        metavar="BASELINES",
        help="re-measure only these counts (--runs of them, 3 or more) into the baselines file (default "
        "baselines/<platform>.json), the other entries kept",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("cost: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    try:
        if args.rebaseline is not None:
            if args.runs < 3:
                parser.error("--rebaseline needs --runs 3 or more (the tolerance comes from their spread)")
            where = load_project().baselines
            path = Path(args.rebaseline) if args.rebaseline else baseline_path(where)
            print("\n".join([*rebaseline(path, args.runs), f"written: {path}"]))
            return 0
        netcore = _netcore_dir()
        if args.gate is not None:
            path = Path(args.gate) if args.gate else baseline_path(load_project().baselines)
            table = load_baselines(path)
            units = {w: e.value for w in GATED if (e := table.entries.get(key(w))) is not None}
            lines, ok = gate(measure(netcore, args.plant, args.only, units), table)
            print("\n".join([*lines, f"cost gate ({path.name}): {'pass' if ok else 'FAIL'}"]))
            return 0 if ok else 1
        _report(netcore, args)
    except (HarnessError, ConfigError) as err:
        print(f"cost: {err}", file=sys.stderr)
        return 2
    return 0


def _report(netcore: Path, args: argparse.Namespace) -> None:
    """Measure and print each count ``args.runs`` times, with their spread (no gate)."""
    with tempfile.TemporaryDirectory(prefix="pyharness-cost-") as tmp:
        workdir = Path(tmp)
        for what, sizes in (("frames", FRAMES), ("cycles", CYCLES)):
            if args.only and what != args.only:
                continue
            plant = 0
            if args.plant:
                plant = calibrated_plant(netcore, what, sizes, args.plant, workdir)
                print(f"{what}: planting {plant} bytes of work ({args.plant:g}% of a unit)")
            mains, totals = [], []
            for _ in range(args.runs):
                m, t = per_unit(netcore, what, sizes, plant, workdir)
                mains.append(m)
                totals.append(t)
            label = "frame" if what == "frames" else "cycle"
            print(
                f"instructions per {label} (calling thread): "
                + ", ".join(f"{v:,.0f}" for v in mains)
                + f"  (spread {spread(mains):.2f}%)"
            )
            print(
                f"instructions per {label} (all threads, not deterministic): "
                + ", ".join(f"{v:,.0f}" for v in totals)
                + f"  (spread {spread(totals):.2f}%)"
            )


if __name__ == "__main__":
    sys.exit(main())
