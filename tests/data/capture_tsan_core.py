"""Regenerate the TSan captures of the messaging core: ``python tests/data/capture_tsan_core.py``.

The sibling of ``capture_tool_outputs.py`` (which captures the canaries): this
runs the core's own suites (``tests/integration/test_netcore.py``, ``tests/integration/test_hostile.py``)
and the three scenarios under the tsan runner, against the clean core and
against the data-race mutant (``mutants/data_race_counter.patch``, applied to
an export of HEAD under ``build/capture-mutants/``), and copies the TSan logs
into ``tests/data/captures/tsan/<case>/``. ``dtls_reuse_unsuppressed`` and
``dtls_reuse`` are the evidence for the toolkit's ``pyharness/suppressions/tsan.supp``
(the same run without any suppressions and with them). ``mutant_counter_history0``
is the mutant's suite run with ``history_size=0``: the "Previous write" of its
second race falls out of TSan's history there (measured, every run), the real
form of a lost stack. Each case is timed against the plain variant too, and
``MANIFEST.json`` records exit codes, durations, slowdowns and what was counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyharness import build, project  # noqa: E402
from pyharness.attribution import Policy  # noqa: E402
from pyharness.model import Frame  # noqa: E402
from pyharness.parsers import tsan as tsan_parser  # noqa: E402
from pyharness.proc import LaunchSpec  # noqa: E402
from pyharness.project import Project  # noqa: E402
from pyharness.runners.base import RunContext  # noqa: E402
from pyharness.runners.tsan import TsanRunner  # noqa: E402

CAPTURES = Path(__file__).resolve().parent / "captures"
MUTANT = ROOT / "mutants" / "data_race_counter.patch"
# Not build/mutants/: that is `pyharness mutants`' scratch tree, synced from the working tree
# (not HEAD) while it runs; sharing it, each would rewrite the other's sources mid-build.
MUTANT_TREE = ROOT / "build" / "capture-mutants" / "data_race_counter"
MUTANT_SRC = MUTANT_TREE / "src"  # the export (its builds in MUTANT_SRC / "build")
# The venv's interpreter as named (the runner resolves it; its realpath would lose the venv's pytest).
PYTHON = sys.executable
SUITES = (
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "tests/integration/test_netcore.py",
    "tests/integration/test_hostile.py",
)
# Case -> (the project's scenario workload, its options).
SCENARIOS = {
    "scenario_connections": ("connections", "--checkpoints", "100,500,1000"),
    "scenario_messages": ("messages", "--messages", "20000"),
    "scenario_stability": ("stability", "--cycles", "300"),
}
TIMEOUT_S = 900.0
# The evidence for pyharness/suppressions/tsan.supp's one entry: 20 Python threads that each throw
# through _netcore (their first use of its thread_locals and of libstdc++'s), then leave
# one GIL-released wait together, in waves; exiting threads trim glibc's stack cache and
# free the others' dynamic TLS. Run without the suppressions it reports, with them not.
DTLS_REUSE = """\
import threading
from pyharness import _netcore as n

server = n.MessagingServer("dtls")
server.start()
together = threading.Barrier(20)


def work():
    client = n.MessagingClient("never-connected")
    try:
        client.send(b"x")
    except n.NotConnectedError:
        pass
    together.wait()
    server.wait_for(messages=10**9, timeout=0.2)


for wave in range(10):
    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
server.stop()
"""
ATTEMPTS = 3  # the unsuppressed run is timing-dependent (measured: it reported in every one of 3 runs)


@dataclasses.dataclass(frozen=True)
class UnsuppressedTsanRunner(TsanRunner):
    """The tsan runner with no suppressions at all, not even the toolkit's (which it always adds)."""

    def suppressions(self, ctx: RunContext) -> Path | None:
        return None


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    tree: Path  # the source tree whose tsan/plain builds it runs against
    argv: tuple[str, ...]
    in_tree: bool  # run from the tree (the suites' conftest) or from the cell (scenarios)
    runner: TsanRunner = dataclasses.field(default_factory=TsanRunner)
    until_report: bool = False  # rerun (up to ATTEMPTS) until TSan reports something


def export_mutant() -> Path:
    """HEAD exported into ``build/capture-mutants/``, the patch applied (the working tree stays untouched).

    Files whose bytes did not change keep their old copies (and times), so the
    mutant's build trees rebuild only what the new export changed.
    """
    src = MUTANT_SRC
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="mutant-export-") as tmp:
        fresh = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(fresh, filter="data")
        with MUTANT.open("rb") as patch:
            subprocess.run(["patch", "-p1", "--quiet"], cwd=fresh, stdin=patch, check=True)
        wanted = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        for rel in sorted(wanted):
            dest = src / rel
            if not dest.is_file() or dest.read_bytes() != (fresh / rel).read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(fresh / rel, dest)
        for old in [p for p in src.rglob("*") if p.is_file() and p.relative_to(src).parts[0] != "build"]:
            if old.relative_to(src) not in wanted:
                old.unlink()
    return src


@dataclasses.dataclass(frozen=True)
class Tree:
    """A source tree as a project, its staged variants and its attribution policy."""

    project: Project
    staged: dict[str, build.Staged]

    @property
    def policy(self) -> Policy:
        return Policy.of(self.project, self.staged["tsan"].objects)


def stage_tree(root: Path, *, build_root: Path | None = None) -> Tree:
    """The plain and tsan variants of the tree at ``root``, staged (built when their inputs changed)."""
    tree = project.load(root, search=False)
    return Tree(tree, {v: build.stage(tree, v, root=build_root) for v in ("plain", "tsan")})


def scenario_command(workload: str, *options: str) -> tuple[str, ...]:
    """The subject command of one of this repository's scenario workloads, with ``options``.

    It runs from the cell, away from any pyproject.toml, so the scenario is named by its
    entry point (``package.module:NAME``), not by its workload id.
    """
    entry = project.load(ROOT, search=False).workload(workload).scenario
    if entry is None:
        raise SystemExit(f"workload {workload!r} is a command, not a scenario")
    return (PYTHON, "-P", "-m", "pyharness", "scenario", entry, *options, "--events", "events.jsonl")


def env_for(staged: build.Staged) -> dict[str, str]:
    env = staged.env()
    # meson (the suites' decoder test) and pytest live beside the interpreter.
    env["PATH"] = os.pathsep.join((str(Path(PYTHON).parent), env["PATH"]))
    # The suites' conftest uses the staged build named in the environment; no other build root.
    env.pop(build.BUILD_ROOT_ENV, None)
    return env


def _where(frame: Frame | None) -> str:
    return frame.where() if frame else "?"


def timed(spec: LaunchSpec) -> tuple[int, float]:
    start = time.monotonic()
    with (
        open(spec.stdout_path or os.devnull, "wb") as out,
        open(spec.stderr_path or os.devnull, "wb") as err,
    ):
        proc = subprocess.run(
            spec.argv,
            env=dict(spec.env),
            cwd=spec.cwd,
            stdout=out,
            stderr=err,
            timeout=spec.timeout_s,
            check=False,
        )
    return proc.returncode, time.monotonic() - start


def run_case(case: Case, tree: Tree) -> dict[str, object]:
    staged = tree.staged
    with tempfile.TemporaryDirectory(prefix=f"capture-tsan-{case.name}-") as tmp:
        cell = Path(tmp)
        cwd = case.tree if case.in_tree else cell
        plain_stderr = cell / "plain.stderr"
        plain = LaunchSpec(case.argv, env_for(staged["plain"]), TIMEOUT_S, cwd=cwd, stderr_path=plain_stderr)
        plain_rc, plain_s = timed(plain)
        if plain_rc != 0:
            tail = plain_stderr.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{case.name}: the plain run failed with exit {plain_rc}:\n{tail}")
        # The tree's own suppressions folder; the tsan runner adds the toolkit's itself.
        ctx = RunContext(cell, TIMEOUT_S, tree.project.suppressions)
        spec = case.runner.launch(case.argv, env_for(staged["tsan"]), ctx)
        spec = dataclasses.replace(spec, cwd=cwd, stdout_path=cell / "subject.stdout")
        attempts = 0
        while True:
            attempts += 1
            for stale in cell.glob("tsan.*"):
                stale.unlink()
            rc, seconds = timed(spec)
            if not case.until_report or any(cell.glob("tsan.*")) or attempts == ATTEMPTS:
                break
        findings = tree.policy.attribute_all(tsan_parser.make_parser().parse(cell).findings)
        dest = CAPTURES / "tsan" / case.name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        logs = sorted(cell.glob("tsan.*"))
        files = []
        for i, log in enumerate(logs):
            name = "tsan.log" if len(logs) == 1 else f"tsan.{i}.log"
            shutil.copyfile(log, dest / name)
            files.append(name)
        if not files:
            (dest / "NO_REPORT").write_text("ThreadSanitizer wrote no report for this run.\n")
            files.append("NO_REPORT")
    entry: dict[str, object] = {
        "command": [a if "\n" not in a else "<script>" for a in case.argv[1:]],
        "tree": "mutant" if case.tree != ROOT else "clean",
        "history_size": case.runner.history_size,
        "suppressions": case.runner.suppressions(ctx) is not None,
        "attempts": attempts,
        "reported": sorted({f.kind for f in findings}),
        "exit_code": rc,
        "expected_exit": rc in spec.success_codes,
        "seconds": round(seconds, 2),
        "native_seconds": round(plain_s, 2),
        "slowdown": round(seconds / plain_s, 1),
        "files": files,
        "counted": sorted(
            {
                f"{f.kind} @ {f.project_frame.where()} / {_where(t.project_frame)}"
                for f in findings
                if f.counts and f.project_frame
                for t in f.related[:1]
            }
        ),
        "truncated": sum(f.truncated for f in findings),
    }
    print(
        f"tsan {case.name:26} exit {rc:3} {seconds:7.2f}s x{entry['slowdown']:<5} counted: {entry['counted']}"
    )
    return entry


def main() -> int:
    mutant = MUTANT_SRC
    cases = [
        Case("core_suites", ROOT, (PYTHON, *SUITES), in_tree=True),
        *(Case(name, ROOT, scenario_command(*spec), False) for name, spec in SCENARIOS.items()),
        Case(
            "dtls_reuse_unsuppressed",
            ROOT,
            (PYTHON, "-c", DTLS_REUSE),
            False,
            runner=UnsuppressedTsanRunner(),
            until_report=True,
        ),
        Case("dtls_reuse", ROOT, (PYTHON, "-c", DTLS_REUSE), False),
        Case("mutant_counter", mutant, (PYTHON, *SUITES), in_tree=True),
        Case(
            "mutant_counter_history0",
            mutant,
            (PYTHON, *SUITES),
            in_tree=True,
            runner=TsanRunner(history_size=0),
        ),
    ]
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", action="append", choices=[c.name for c in cases], help="only these cases")
    args = parser.parse_args()
    cases = [c for c in cases if not args.case or c.name in args.case]

    # Only the trees the chosen cases run in are staged (each tree builds two variants).
    trees: dict[Path, Tree] = {}
    if any(c.tree == ROOT for c in cases):
        trees[ROOT] = stage_tree(ROOT)
    if any(c.tree == mutant for c in cases):
        export_mutant()
        # In the export's own build/ (kept across exports), whatever PYHARNESS_BUILD_ROOT says.
        trees[mutant] = stage_tree(mutant, build_root=mutant / "build")
    manifest_path = CAPTURES / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    runs = manifest.setdefault("runs", {})
    for case in cases:
        runs[f"tsan/{case.name}"] = run_case(case, trees[case.tree])
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
