"""Nox sessions: the matrix (read from pyharness.matrix and the project's table) and the checks.

`nox` alone runs the quick matrix (every tool x workload cell, two at a time, one report);
`nox -s tests` is the test command CI runs (see README.md and .ci/run).
Posargs pass through: `nox -s asan -- messages` runs one workload,
`nox -s valgrind -- --sweep` the pre-release sizes.

Every harness session (the tools, matrix, report, selftest, baseline, build,
docs, mutants) runs in ONE environment, `.nox/harness`: a variant's build tree
is configured for the interpreter that built it, and a session per venv would
rebuild every variant for each tool. nox has no shared environments, so those
sessions are `python=False` and `harness_env` keeps that one up to date.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from pyharness.matrix import TOOLS, VARIANTS  # noqa: E402  (the matrix is defined once, in code)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["matrix"]
TEST_WORKERS = min(2, os.cpu_count() or 1)  # pytest-xdist workers of `nox -s tests`

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"
HARNESS_ENV = ROOT / ".nox" / "harness"
# One run directory for every session of this nox invocation, so `nox` (matrix)
# gathers every tool's cells into one report.
RUN_ID = (
    os.environ.get("PYHARNESS_RUN_ID") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
)
RUN_DIR = f"reports/{RUN_ID}"
FUZZ_SECONDS = 60
# The quick matrix runs two cells at a time on two cores or more: memcheck, its longest
# cells, runs a subject's threads one at a time, so a second cell finds a core free.
MATRIX_JOBS = min(2, os.cpu_count() or 1)
# Ctrl-C reaches the harness first: give it time to stop its subject (Valgrind writes its
# report on SIGTERM) and write the report of the finished cells before nox escalates.
INTERRUPT = {"interrupt_timeout": 60.0, "terminate_timeout": 15.0}


def group(name: str) -> list[str]:
    """Requirements of one dependency group in pyproject.toml."""
    return nox.project.dependency_groups(PYPROJECT, name)


def harness_env(session: nox.Session) -> str:
    """The shared harness environment's interpreter, created or updated when the groups change."""
    python = HARNESS_ENV / "bin" / "python"
    wanted = "\n".join([*group("harness"), *group("tools"), *group("bench")]) + "\n"
    stamp = HARNESS_ENV / "pyharness-requirements.txt"
    HARNESS_ENV.parent.mkdir(parents=True, exist_ok=True)
    with (HARNESS_ENV.parent / ".harness.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two sessions at once must not build it twice
        if not python.exists():
            base = shutil.which(f"python{PYTHON}") or sys.executable
            session.run(base, "-m", "venv", str(HARNESS_ENV), external=True)
        if not stamp.is_file() or stamp.read_text() != wanted:
            session.run(str(python), "-m", "pip", "install", "--quiet", *wanted.split(), external=True)
            stamp.write_text(wanted)
    return str(python)


def harness(session: nox.Session, *args: str) -> None:
    """Run `python -m pyharness ARGS` from the checkout, in the shared harness environment.

    The run directory goes by environment (PYHARNESS_RUN_ID), not by option, so that
    posargs (`-- messages`, `-- --sweep`, `-- messages -- --cycles 50`) pass through whole.
    """
    session.run(
        harness_env(session), "-m", "pyharness", *args,
        env={"PYHARNESS_RUN_ID": RUN_ID}, external=True, **INTERRUPT,
    )  # fmt: skip


def _tool_session(tool_id: str) -> None:
    tool = TOOLS[tool_id]

    def run_tool(session: nox.Session) -> None:
        harness(session, "matrix", tool.id, *session.posargs)

    run_tool.__doc__ = (
        f"{tool.description} on the {tool.variant} variant: every workload, then the report "
        "(`-- WORKLOAD`, `-- --sweep`)."
    )
    run_tool.__name__ = tool.id
    nox.session(name=tool.id, python=False, tags=[tool.id, tool.variant, "matrix"], default=False)(run_tool)


for _tool in TOOLS:
    _tool_session(_tool)


@nox.session(python=False, tags=["matrix"])
def matrix(session: nox.Session) -> None:
    """The quick matrix: every tool x workload cell, two at a time, into one report (`-- --jobs 1`)."""
    harness(session, "matrix", "--jobs", str(MATRIX_JOBS), *session.posargs)


@nox.session(python=False, default=False)
def report(session: nox.Session) -> None:
    """Re-render a run's report: `nox -s report -- reports/<run-id>` (default reports/latest)."""
    harness(session, "report", *(session.posargs or ["reports/latest"]))


@nox.session(python=False, default=False)
def baseline(session: nox.Session) -> None:
    """Measure baselines/<platform>.json from repeated runs and the native demo (`-- --runs N`)."""
    harness(session, "baseline", *session.posargs)


@nox.session(python=False, default=False)
def selftest(session: nox.Session) -> None:
    """Every canary under every tool and the clean workloads: the detection table must match (`-- asan`)."""
    harness(session, "selftest", *session.posargs)


@nox.session(python=False, default=False)
def mutants(session: nox.Session) -> None:
    """The mutation self-test: every planted defect in mutants/ caught by its tools (`-- NAME`)."""
    harness(session, "mutants", *(session.posargs or ["--json", "docs/mutants-results.json"]))


@nox.session(python=False, default=False)
def build(session: nox.Session) -> None:
    """Build and stage every variant (or those named: `-- asan plain`); print where each is."""
    harness(session, "build", *(session.posargs or list(VARIANTS)))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install the package as users do, smoke-test it, then run the test suite."""
    session.install(*group("test"))
    # meson-python, plain variant, memory_profile_demo into bin: the wheel `pip install .` would
    # build, built once and kept, so that the test of a user's fresh install (PYHARNESS_TEST_WHEEL,
    # tests/integration/test_example_project.py) installs it instead of compiling the core again.
    wheels = ROOT / "build" / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    session.run("python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), ".")
    (wheel,) = wheels.glob("pyharness-*.whl")
    session.install(str(wheel))
    # -P: import the installed copy, not the checkout in the current directory.
    session.run(
        "python", "-P", "-c", "import pyharness._netcore, pyharness._build_config as b; print(b.VARIANT)"
    )
    session.run("memory_profile_demo", "connections", "--connections", "1000")
    # The tests keep their own build trees: the harness environment's stay as they are. Two
    # workers (pytest-xdist), one per core: the builds they share are staged once, under a lock
    # (pyharness.build.stage), and the longest test (the self-test's canary table) runs beside
    # the rest instead of before it. Work stealing: a worker that runs dry takes tests queued on
    # the other (with the default `load` one worker sat idle for 95 s of a 473 s run, measured).
    # `nox -s tests -- -n 0 ...` runs them one at a time.
    args = session.posargs or ["-n", str(TEST_WORKERS), "--dist", "worksteal"]
    env = {"PYHARNESS_BUILD_ROOT": str(ROOT / "build" / "tests"), "PYHARNESS_TEST_WHEEL": str(wheel)}
    session.run("pytest", *args, env=env)


@nox.session(python=PYTHON, default=False)
def unit(session: nox.Session) -> None:
    """The fast tier: tests/unit/ (no build, no tool, no subject process), in under a minute."""
    session.install(*group("unit"))
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session(python=PYTHON, default=False)
def field(session: nox.Session) -> None:
    """The field trial: real PyPI extensions from their pinned sdists (`-- NAME`); writes docs/FIELD.md."""
    # Its own environment: the projects' test requirements (numpy, matplotlib...) stay out of the harness's.
    session.install(*group("harness"), *group("tools"))
    args = session.posargs or ["--fresh", "--json", "docs/field-results.json", "--doc", "docs/FIELD.md"]
    session.run("python", "-m", "pyharness", "field", *args, env={"CCACHE_NOHASHDIR": "1"}, **INTERRUPT)


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """Fuzz the frame decoder with libFuzzer under ASan+UBSan (needs clang; `-- SECONDS`)."""
    seconds = session.posargs[0] if session.posargs else str(FUZZ_SECONDS)
    out = ROOT / "build" / "fuzz"
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    binary = out / "fuzz_frame_decoder"
    session.run(
        "clang++", "-std=c++17", "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
        "-fno-sanitize-recover=undefined", f"-I{ROOT / 'csrc'}",
        str(ROOT / "csrc/fuzz/fuzz_frame_decoder.cpp"), str(ROOT / "csrc/core/frame_decoder.cpp"),
        "-o", str(binary), external=True,
    )  # fmt: skip
    session.run(
        str(binary), f"-max_total_time={seconds}", f"-artifact_prefix={out}/", "-print_final_stats=1",
        str(out / "corpus"), str(ROOT / "csrc/fuzz/corpus"), external=True,
    )  # fmt: skip


@nox.session(python=PYTHON, default=False)
def docs(session: nox.Session) -> None:
    """Check the docs' generated tables and run every shell command in them (nox ones included)."""
    session.install(*group("test"), *group("bench"))
    session.install(".")  # memory_profile_demo on PATH, as the guide's readers have it
    session.run("python", "-m", "pyharness.netcore.docs", "--run", *session.posargs, **INTERRUPT)


@nox.session(python=False, default=False)
def bench(session: nox.Session) -> None:
    """Our core against asyncio, uvloop, pyzmq and the kernel's own limit, over loopback (`-- --runs N`)."""
    session.run(harness_env(session), "-m", "pyharness.netcore.bench", *session.posargs, external=True)


@nox.session(python=False, default=False)
def cost(session: nox.Session) -> None:
    """The deterministic cost gate: callgrind's instructions per frame and per cycle against the baselines."""
    session.run(
        harness_env(session), "-m", "pyharness.netcore.bench.cost", "--gate", *session.posargs, external=True
    )


@nox.session(python=PYTHON, default=False)
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict, clang-format on csrc/, and the CI workflow (its schema, zizmor)."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    sources = sorted(str(p) for p in (ROOT / "csrc").rglob("*.[ch]pp"))
    session.run("clang-format", "--dry-run", "--Werror", *sources)
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    session.run("zizmor", "--offline", *workflows)
