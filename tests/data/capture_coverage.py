"""Regenerate the gcovr reports the coverage parser tests read: ``python tests/data/capture_coverage.py``.

Copies ``examples/rle`` to a scratch folder (no build tree, no reports), then
runs two coverage cells on it with the harness itself (``python -m pyharness``,
so the runner's launch, its counters in the cell directory and its gcovr
follow-up are the ones under test): the example's pytest suite, and a command
that only encodes (``rle.encode``; ``decode``, ``encode_all`` and ``count_runs``
never run).
Each cell's ``coverage.json``, gcovr's report as written, goes to
``tests/data/captures/coverage/<cell>/coverage.json``; gcovr's paths are
relative to the project root, so the scratch folder's name is in none of them.
Nothing here is edited by hand: rerun it after changing the example, the runner
or gcovr.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "rle"
OUT = ROOT / "tests" / "data" / "captures" / "coverage"
ENCODE_ONLY = "import rle; assert rle.encode(b'aaab') == b'\\x03a\\x01b'"
# name -> (the harness's command and options, the command a `wrap` cell runs)
CELLS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rle-pytest": (("run", "--tool", "coverage", "--workload", "pytest"), ()),
    "rle-encode": (("wrap", "--tool", "coverage"), (sys.executable, "-c", ENCODE_ONLY)),
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pyharness-coverage-capture-") as scratch:
        project = Path(scratch) / "rle"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("build", "reports", "__pycache__"))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PYHARNESS_BUILD_ROOT", None)  # the copy's own build/ folder
        for name, (harness, wrapped) in CELLS.items():
            reports = Path(scratch) / "reports" / name
            argv = [sys.executable, "-m", "pyharness", *harness, "--out-dir", str(reports)]
            argv += ["--project", str(project), "--no-progress", *(["--", *wrapped] if wrapped else [])]
            done = subprocess.run(
                argv, cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            found = sorted(reports.rglob("coverage.json"))
            if done.returncode != 0 or not found:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            target = OUT / name / "coverage.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            # Pretty and sorted: a regenerated capture diffs line by line.
            target.write_text(json.dumps(json.loads(found[0].read_text()), indent=1, sort_keys=True) + "\n")
            print(f"{name}: {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
