"""``python -m pyharness.netcore.docs``: this repository's docs, checked against what was measured.

The tables in ``docs/*.md`` are generated (``pyharness.netcore.docgen``) from
``baselines/<platform>.json``, ``docs/bench-results.json``, ``pyharness.matrix``
and the project's table. Without options, exit 1 when a doc is stale;
``--write`` rewrites them. ``--run`` executes every ``bash`` block of the docs
from the checkout (what ``nox -s docs`` does) and exits 1 when one does not end
as the doc says.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pyharness.api import HarnessError, baseline_path, load_baselines, load_project
from pyharness.netcore import coverage_doc, doccommands, docgen

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyharness.netcore.docs", description=__doc__.split("\n\n")[1])
    p.add_argument("--check", action="store_true", help="exit 1 when a doc is stale (the default action)")
    p.add_argument("--write", action="store_true", help="rewrite stale generated tables")
    p.add_argument("--run", action="store_true", help="execute the docs' shell commands")
    p.add_argument("--skip-nox", action="store_true", help="with --run: skip blocks that run nox sessions")
    p.add_argument("--baselines", type=Path, metavar="PATH", help="baselines file (default: the platform's)")
    p.add_argument(
        "--keep-sweep",
        type=Path,
        metavar="RUN_DIR",
        help=f"first keep the cells of this --sweep matrix run as docs/{docgen.SWEEP_RESULTS}",
    )
    p.add_argument(
        "--keep-coverage",
        type=Path,
        metavar="RUN_DIR",
        help=f"first keep the merged coverage of this quick run as docs/{coverage_doc.COVERAGE_RESULTS}",
    )
    args = p.parse_args(argv)
    try:
        project = load_project()
        paths = sorted((project.root / "docs").glob("*.md"))
        if args.keep_sweep:
            print(f"kept {docgen.keep_sweep(args.keep_sweep, project.root / 'docs')}")
        if args.keep_coverage:
            print(f"kept {coverage_doc.keep_coverage(args.keep_coverage, project.root / 'docs')}")
        table = load_baselines(args.baselines or baseline_path(project.baselines))
        inputs = docgen.load_inputs(project, table)
        if args.write:
            changed = docgen.write_docs(paths, inputs)
            print("\n".join(f"rewrote {p}" for p in changed) or "docs are up to date")
        else:
            stale = docgen.stale_docs(paths, inputs)
            if stale:
                print("\n".join(f"stale: {p} (python -m pyharness.netcore.docs --write)" for p in stale))
                return EXIT_FAIL
        if not args.run:
            return EXIT_OK
        problems = []
        for block in doccommands.extract_all(paths):
            if args.skip_nox and block.runs_nox:
                continue
            print(f"docs: running {block.id}", flush=True)
            problem = doccommands.verdict(block, doccommands.run(block, cwd=project.root))
            if problem:
                problems.append(problem)
        print("\n".join(problems) or "every doc command ended as documented")
        return EXIT_FAIL if problems else EXIT_OK
    except HarnessError as err:
        print(f"pyharness docs: error: {err}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
