"""``python -m pyharness.netcore.bench [--quick] [--runs N] [--json PATH]``: run, print, save; exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pyharness.api import HarnessError
from pyharness.netcore.bench import runner, table
from pyharness.netcore.bench.catalogue import DEFAULT, PEER_IDS, QUICK, SCENARIOS

MIN_RUNS = 3
DEFAULT_REPORTS = Path("reports/bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyharness.netcore.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (for tests), not for numbers")
    parser.add_argument(
        "--runs", type=int, default=MIN_RUNS, help=f"runs per peer and scenario (default {MIN_RUNS})"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help=f"write results here (default {DEFAULT_REPORTS}/<timestamp>.json and latest.json)",
    )
    parser.add_argument("--peers", nargs="+", choices=PEER_IDS, default=None, help="only these peers")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("-v", "--verbose", action="store_true", help="log each cell and child command")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    peers, skipped = runner.select_peers(args.peers)
    try:
        results = runner.run(QUICK if args.quick else DEFAULT, args.runs, peers, skipped, args.scenarios)
    except HarnessError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    table.render(results, sys.stdout)
    for path in runner.save(results, args.json, DEFAULT_REPORTS):
        print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
