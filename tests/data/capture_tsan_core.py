"""Regenerate the TSan captures of the messaging core: ``python tests/data/capture_tsan_core.py``.

The sibling of ``capture_tool_outputs.py`` (which captures the canaries): this
runs the core's own suites (``tests/test_netcore.py``, ``tests/test_hostile.py``)
and the three scenarios under the tsan runner, against the clean core and
against the data-race mutant (``mutants/data_race_counter.patch``, applied to
an export of HEAD under ``build/mutants/``), and copies the TSan logs into
``tests/data/captures/tsan/<case>/``. ``dtls_reuse_unsuppressed`` and ``dtls_reuse`` are the evidence
for ``suppressions/tsan.supp`` (the same run without and with it). ``mutant_counter_history0`` is the
mutant's suite run with ``history_size=0``: the "Previous write" of its second
race falls out of TSan's history there (measured, every run), the real form
of a lost stack. Each case is timed against the plain variant too, and
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

from pyharness.parsers.attribution import attribute_all  # noqa: E402

from pyharness import build  # noqa: E402
from pyharness.model import Frame  # noqa: E402
from pyharness.parsers import tsan as tsan_parser  # noqa: E402
from pyharness.runners.base import LaunchSpec, RunContext  # noqa: E402
from pyharness.runners.tsan import TsanRunner  # noqa: E402

CAPTURES = Path(__file__).resolve().parent / "captures"
MUTANT = ROOT / "mutants" / "data_race_counter.patch"
MUTANT_TREE = ROOT / "build" / "mutants" / "data_race_counter"
# The venv's interpreter as named (the runner resolves it; its realpath would lose the venv's pytest).
PYTHON = sys.executable
SUITES = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_netcore.py", "tests/test_hostile.py")
SCENARIOS = {
    "scenario_connections": ("connections", "--checkpoints", "100,500,1000"),
    "scenario_messages": ("messages", "--messages", "20000"),
    "scenario_stability": ("stability", "--cycles", "300"),
}
TIMEOUT_S = 900.0
# The evidence for suppressions/tsan.supp's one entry: 20 Python threads that each throw
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
class Case:
    name: str
    tree: Path  # the source tree whose tsan/plain builds it runs against
    argv: tuple[str, ...]
    in_tree: bool  # run from the tree (the suites' conftest) or from the cell (scenarios)
    runner: TsanRunner = dataclasses.field(default_factory=TsanRunner)
    suppressions: bool = True  # the project's suppressions folder, or none at all
    until_report: bool = False  # rerun (up to ATTEMPTS) until TSan reports something


def export_mutant() -> Path:
    """HEAD exported into ``build/mutants/``, the patch applied (the working tree stays untouched).

    Files whose bytes did not change keep their old copies (and times), so the
    mutant's build trees rebuild only what the new export changed.
    """
    src = MUTANT_TREE / "src"
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


def stage_in(tree: Path, variant: str) -> build.StagedBuild:
    """Stage ``variant`` of another source tree (``build.stage`` builds the tree it is imported from)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYHARNESS_BUILD_ROOT")}
    env["PYTHONPATH"] = str(tree)
    code = "import sys; from pyharness import build; s = build.stage(sys.argv[1]); print(s.build_dir)"
    out = subprocess.run(
        [PYTHON, "-c", code, variant], cwd=tree, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    build_dir = Path(out.splitlines()[-1])
    return build.StagedBuild(variant, build_dir, build_dir / "stage" / "site", build_dir / "stage" / "bin")


def env_for(staged: build.StagedBuild) -> dict[str, str]:
    env = staged.env()
    # meson (the suites' decoder test) and pytest live beside the interpreter.
    env["PATH"] = os.pathsep.join((str(Path(PYTHON).parent), env["PATH"]))
    # The build root of the tree the case runs in (the suites' conftest stages it again).
    env.pop("PYHARNESS_BUILD_ROOT", None)
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


def run_case(case: Case, staged: dict[str, build.StagedBuild]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"capture-tsan-{case.name}-") as tmp:
        cell = Path(tmp)
        cwd = case.tree if case.in_tree else cell
        plain = LaunchSpec(case.argv, env_for(staged["plain"]), TIMEOUT_S, cwd=cwd)
        plain_rc, plain_s = timed(plain)
        if plain_rc != 0:
            raise SystemExit(f"{case.name}: the plain run failed with exit {plain_rc}")
        ctx = RunContext(cell, TIMEOUT_S, ROOT / "suppressions" if case.suppressions else None)
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
        findings = attribute_all(tsan_parser.parse_cell(cell).findings)
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
        "suppressions": case.suppressions,
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--case", action="append", help="only these cases")
    args = parser.parse_args()

    mutant = export_mutant()
    staged = {v: build.stage(v) for v in ("plain", "tsan")}
    staged_mutant = {v: stage_in(mutant, v) for v in ("plain", "tsan")}
    cases = [
        Case("core_suites", ROOT, (PYTHON, *SUITES), in_tree=True),
        *(
            Case(
                name,
                ROOT,
                (PYTHON, "-P", "-m", "pyharness", "scenario", *args_, "--events", "events.jsonl"),
                False,
            )
            for name, args_ in SCENARIOS.items()
        ),
        Case(
            "dtls_reuse_unsuppressed",
            ROOT,
            (PYTHON, "-c", DTLS_REUSE),
            False,
            suppressions=False,
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
    manifest_path = CAPTURES / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    runs = manifest.setdefault("runs", {})
    for case in cases:
        if args.case and case.name not in args.case:
            continue
        builds = staged_mutant if case.tree == mutant else staged
        runs[f"tsan/{case.name}"] = run_case(case, builds)
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
