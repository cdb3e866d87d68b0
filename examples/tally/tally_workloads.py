"""The ``histogram`` scenario: many histograms of known data, each checked, RSS at checkpoints.

A workload of this project's own, written against ``pyharness.api`` alone, as
any project's would be. ``run`` works in the subject (under the tool) and says
what it did through the event log; ``judge`` decides in the orchestrator, from
those events and the RSS it sampled. Named in the table as
``scenario = "tally_workloads:HISTOGRAM"``.
"""

from __future__ import annotations

import argparse
import os
import random
from collections import Counter

from pyharness.api import EventLog, Evidence, Judgement, Metric, Scenario, Size, SubjectError, least_squares

PAGE = os.sysconf("SC_PAGE_SIZE")
CHECKPOINTS = 10


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=None, help="histograms to compute (quick 2,000)")
    parser.add_argument("--size", type=int, default=4096, help="bytes per histogram (default 4,096)")


def run(args: argparse.Namespace, events: EventLog) -> None:
    import tally  # noqa: PLC0415 - the staged build, imported in the subject only

    rounds = args.rounds or (20_000 if args.sweep else 2_000)
    rng = random.Random(11)
    data = bytes(rng.randrange(256) for _ in range(args.size))
    expected = tuple(Counter(data).get(v, 0) for v in range(256))
    events.phase(f"{rounds} histograms of {args.size:,} bytes")
    every = max(1, rounds // CHECKPOINTS)
    wrong = 0
    for i in range(1, rounds + 1):
        if tally.histogram(data) != expected:
            wrong += 1
        if i % every == 0:
            events.checkpoint(f"{i} histograms", rounds=i, rss=_rss())
    if wrong == rounds:
        raise SubjectError("every histogram was wrong: the extension is broken")
    events.emit("result", rounds=rounds, wrong=wrong)


def judge(evidence: Evidence) -> Judgement:
    result = evidence.result()
    if result is None:
        return Judgement("error", "the subject reported no result")
    if result["wrong"]:
        return Judgement("fail", f"{result['wrong']} of {result['rounds']} histograms were wrong")
    marks = [e for e in evidence.events if e.get("event") == "checkpoint"]
    xs, ys = [float(e["rounds"]) for e in marks], [float(e["rss"]) for e in marks]
    slope = least_squares(xs, ys).slope if len(set(xs)) >= 2 else 0.0
    metrics = (Metric("rss_per_histogram", slope, "B/round"),)
    return Judgement("pass", f"{result['rounds']} histograms, all right", metrics)


HISTOGRAM = Scenario(
    id="histogram",
    help="compute many histograms of known data and check each",
    add_arguments=add_arguments,
    run=run,
    judge=judge,
    expected_s={"quick": 2.0, "sweep": 20.0},
    # memcheck is ~60x slower, and the interpreter's start-up is most of the cell: a fortieth of
    # the rounds, and a second of native time.
    sizes={"valgrind": Size(("--rounds", "50"), expected_s=1.0)},
)
