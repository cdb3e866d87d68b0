"""The tool runners: argv, environment, artifacts, timeouts and missing tools (no tool is run)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pyharness import registry
from pyharness.cell import execute, unwind
from pyharness.errors import BuildError, ConfigError, ToolMissingError
from pyharness.matrix import TOOLS
from pyharness.proc import LaunchSpec
from pyharness.progress import Progress
from pyharness.runners import asan, heaptrack, valgrind
from pyharness.runners.base import TOOLKIT_SUPPRESSIONS, Followup, RunContext, Runner
from tests.conftest import THIS

SUPPRESSIONS_DIR = THIS.root / "suppressions"
assert THIS.suppressions == SUPPRESSIONS_DIR  # this repository's table names it


def ctx(cell_dir: Path, limit_s: float = 10.0, **kw: object) -> RunContext:
    return RunContext(cell_dir, limit_s, SUPPRESSIONS_DIR, **kw)  # type: ignore[arg-type]


SUBJECT = ("/usr/bin/python3", "-m", "pyharness", "run", "messages")
BASE_ENV = {"PATH": "/usr/bin", "LD_PRELOAD": "/stale/libasan.so", "PYTHONMALLOC": "pymalloc"}


@pytest.fixture
def tools_present(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend every executable is installed, and the ASan runtime too."""
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(
        asan,
        "find_runtime",
        lambda compiler="g++", library="libasan.so", tool="asan": Path(f"/usr/lib/gcc/12/{library}"),
    )


def test_runners_satisfy_the_protocol() -> None:
    runners: list[Runner] = [asan.AsanRunner(), valgrind.ValgrindRunner(), heaptrack.HeaptrackRunner()]
    assert [r.id for r in runners] == ["asan", "valgrind", "heaptrack"]
    assert all(r.id in TOOLS for r in runners)


def test_asan_launch(tools_present: None, tmp_path: Path) -> None:
    spec = asan.AsanRunner().launch(SUBJECT, BASE_ENV, ctx(tmp_path))
    assert spec.argv == SUBJECT  # nothing wraps the subject: the runtime is preloaded
    env = spec.env
    assert env["LD_PRELOAD"].split()[0] == "/usr/lib/gcc/12/libasan.so"  # the runtime comes first
    assert env["LD_PRELOAD"].split()[1] == "/usr/lib/gcc/12/libstdc++.so.6"  # then C++ (__cxa_throw)
    assert env["PYTHONMALLOC"] == "malloc"
    asan_opts = dict(kv.split("=", 1) for kv in env["ASAN_OPTIONS"].split(":"))
    assert asan_opts["log_path"] == str(tmp_path / "asan")
    assert asan_opts["detect_leaks"] == "1" and asan_opts["abort_on_error"] == "0"
    assert asan_opts["exitcode"] == str(asan.ASAN_EXITCODE)
    lsan_opts = dict(kv.split("=", 1) for kv in env["LSAN_OPTIONS"].split(":"))
    assert lsan_opts["suppressions"] == str(SUPPRESSIONS_DIR / "lsan.supp")
    ubsan_opts = dict(kv.split("=", 1) for kv in env["UBSAN_OPTIONS"].split(":"))
    assert (
        ubsan_opts["print_stacktrace"] == "1" and ubsan_opts["halt_on_error"] == "0"
    )  # every report collected
    assert lsan_opts["print_suppressions"] == "1"  # what each entry hid, said
    assert ubsan_opts["exitcode"] == str(asan.UBSAN_EXITCODE) != asan_opts["exitcode"]
    assert spec.success_codes == {0, asan.ASAN_EXITCODE, asan.UBSAN_EXITCODE}
    assert spec.stderr_path == tmp_path / "subject.stderr"
    assert spec.timeout_s == 10.0  # the cell's limit as it is: the plan scaled it once
    assert asan_opts["fast_unwind_on_malloc"] == "1"
    assert asan.AsanRunner().followups(ctx(tmp_path)) == ()
    full = asan.AsanRunner().launch(SUBJECT, BASE_ENV, ctx(tmp_path, full_unwind=True))
    assert "fast_unwind_on_malloc=0" in full.env["ASAN_OPTIONS"]
    assert "verify_asan_link_order" not in full.env["ASAN_OPTIONS"]  # no shim: the runtime comes first
    shim = tmp_path / "asan_shift-0123.so"
    shifted = asan.AsanRunner().launch(SUBJECT, BASE_ENV, ctx(tmp_path, full_unwind=True, alloc_shim=shim))
    # The shim ahead of the runtime (else ASan's malloc wins), and the runtime told that is on purpose.
    assert shifted.env["LD_PRELOAD"].split()[:2] == [str(shim), "/usr/lib/gcc/12/libasan.so"]
    assert "verify_asan_link_order=0" in shifted.env["ASAN_OPTIONS"]
    bare = asan.AsanRunner().launch(SUBJECT, BASE_ENV, RunContext(tmp_path, 10.0, None))
    assert "suppressions" not in dict(kv.split("=", 1) for kv in bare.env["LSAN_OPTIONS"].split(":"))


def test_asan_log_files(tmp_path: Path) -> None:
    for name in ("asan.200", "asan.100", "subject.stderr", "other.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in asan.log_files(tmp_path)] == ["asan.100", "asan.200", "subject.stderr"]


def test_valgrind_launch(tools_present: None, tmp_path: Path) -> None:
    runner = valgrind.ValgrindRunner()
    spec = runner.launch(SUBJECT, BASE_ENV, ctx(tmp_path))
    assert spec.argv[0] == "/usr/bin/valgrind"
    assert spec.argv[-len(SUBJECT) :] == SUBJECT
    opts = spec.argv[1 : -len(SUBJECT)]
    for expected in (
        "--tool=memcheck",
        "--xml=yes",
        f"--xml-file={tmp_path / 'valgrind.%p.xml'}",
        f"--suppressions={TOOLKIT_SUPPRESSIONS / 'valgrind.supp'}",  # the interpreter's, for every project
        "--leak-check=full",
        "--show-leak-kinds=definite,indirect",
        "--errors-for-leak-kinds=definite,indirect",
        f"--error-exitcode={valgrind.ERROR_EXITCODE}",
        "--child-silent-after-fork=yes",
    ):
        assert expected in opts
    assert spec.env["PYTHONMALLOC"] == "malloc"
    assert "LD_PRELOAD" not in spec.env  # a stale sanitizer runtime would break memcheck
    assert spec.success_codes == {0, valgrind.ERROR_EXITCODE}
    assert spec.timeout_s == 10.0  # as given: never multiplied again
    assert runner.followups(ctx(tmp_path)) == ()


def test_heaptrack_launch_and_followups(tools_present: None, tmp_path: Path) -> None:
    runner = heaptrack.HeaptrackRunner()
    spec = runner.launch(SUBJECT, BASE_ENV, ctx(tmp_path))
    assert spec.argv == ("/usr/bin/heaptrack", "-o", str(tmp_path / "heaptrack.data"), *SUBJECT)
    assert spec.env["PYTHONMALLOC"] == "malloc" and "LD_PRELOAD" not in spec.env
    assert spec.timeout_s == 10.0
    (tmp_path / "heaptrack.data.zst").write_bytes(b"")
    summary, leaks = runner.followups(ctx(tmp_path))
    for followup in (summary, leaks):
        assert followup.spec.argv[:3] == (
            "/usr/bin/heaptrack_print",
            "--file",
            str(tmp_path / "heaptrack.data.zst"),
        )
        assert followup.spec.env["LC_ALL"] == "C"
        assert followup.required
    assert summary.spec.stdout_path == tmp_path / heaptrack.SUMMARY_FILE
    assert leaks.spec.stdout_path == tmp_path / heaptrack.LEAKS_FILE
    assert "--print-leaks" in leaks.spec.argv and "--merge-backtraces" in leaks.spec.argv


def test_heaptrack_recording_falls_back_to_gzip(tmp_path: Path) -> None:
    (tmp_path / "heaptrack.data.gz").write_bytes(b"")
    assert heaptrack.recording(tmp_path).name == "heaptrack.data.gz"


def test_heaptrack_refuses_multiline_arguments(tools_present: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="newline"):
        heaptrack.HeaptrackRunner().launch(("python", "-c", "a = 1\nb = 2"), {}, ctx(tmp_path))


@pytest.mark.parametrize("runner", [valgrind.ValgrindRunner(), heaptrack.HeaptrackRunner()])
def test_missing_tool(runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ToolMissingError) as info:
        runner.check_available()
    assert info.value.install_hint == TOOLS[runner.id].install_hint


def test_missing_asan_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    asan.find_runtime.cache_clear()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    try:
        with pytest.raises(ToolMissingError, match="libasan"):
            asan.AsanRunner().check_available()
    finally:
        asan.find_runtime.cache_clear()


def test_the_toolkits_suppressions_come_first_then_the_projects(tools_present: None, tmp_path: Path) -> None:
    bare = valgrind.ValgrindRunner().launch(SUBJECT, BASE_ENV, RunContext(tmp_path, 10.0, None))
    assert [a for a in bare.argv if a.startswith("--suppressions")] == [
        f"--suppressions={TOOLKIT_SUPPRESSIONS / 'valgrind.supp'}"
    ]
    own = tmp_path / "supp"
    own.mkdir()
    (own / "valgrind.supp").write_text("{\n  mine\n  Memcheck:Leak\n  fun:mine\n}\n")
    (own / "tsan.supp").write_text("race_top:mine\n")
    ctx = RunContext(tmp_path, 10.0, own)
    spec = valgrind.ValgrindRunner().launch(SUBJECT, BASE_ENV, ctx)
    assert [a for a in spec.argv if a.startswith("--suppressions")] == [
        f"--suppressions={TOOLKIT_SUPPRESSIONS / 'valgrind.supp'}",
        f"--suppressions={own / 'valgrind.supp'}",
    ]
    combined = ctx.suppression_file("tsan.supp")  # TSan reads one file: both, concatenated
    assert combined == tmp_path / "tsan.supp"
    text = combined.read_text()
    assert text.index("race:_dl_deallocate_tls") < text.index("race_top:mine")


def test_suppression_files_exist_and_explain_every_entry() -> None:
    vg = (TOOLKIT_SUPPRESSIONS / "valgrind.supp").read_text()
    assert "libpython" in vg and vg.count("{") == vg.count("}") == 2
    for line in (SUPPRESSIONS_DIR / "lsan.supp").read_text().splitlines():
        assert not line.strip() or line.startswith("#")  # no active entry: none was needed
    assert "leak:" not in "".join(
        line for line in (SUPPRESSIONS_DIR / "lsan.supp").read_text().splitlines() if not line.startswith("#")
    )


@pytest.mark.parametrize("tool", ["asan", "valgrind", "heaptrack"])
def test_registry_finds_runner_and_parser(tool: str) -> None:
    assert registry.runner_for(tool).id == tool
    assert registry.parser_for(tool) is not None


def test_the_rerun_builds_the_allocation_shim_or_says_why_not(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def helper(name: str, *, cflags: tuple[str, ...] = (), libs: tuple[str, ...] = ()) -> Path:
        asked.append((name, tuple(cflags), tuple(libs)))
        return Path(f"/cache/{name}-0123.so")

    monkeypatch.setattr(unwind.native, "helper", helper)
    assert unwind.alloc_shim() == (Path("/cache/asan_shift-0123.so"), None)
    assert asked == [("asan_shift", ("-fno-omit-frame-pointer",), ("-ldl",))]

    def broken(name: str, **_: object) -> Path:
        raise BuildError(f"building pyharness's {name} helper failed (exit 1):\ncc: error")

    monkeypatch.setattr(unwind.native, "helper", broken)
    assert unwind.alloc_shim() == (None, "building pyharness's asan_shift helper failed (exit 1):")


class _TwoFollowups:
    """A runner with two follow-ups: one required, one for people."""

    id = "rss"

    def followups(self, ctx: RunContext) -> tuple[Followup, ...]:
        def named(label: str) -> LaunchSpec:
            return LaunchSpec(("true",), {}, 30, label=label)

        return (Followup(named("required")), Followup(named("for people"), required=False))


@pytest.mark.parametrize(("for_people", "ran"), [(True, ["required", "for people"]), (False, ["required"])])
def test_optional_followups_run_only_for_people(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, for_people: bool, ran: list[str]
) -> None:
    started: list[str] = []

    def fake_run(spec: LaunchSpec, **_: object) -> SimpleNamespace:
        started.append(spec.label)
        return SimpleNamespace(ok=True)

    monkeypatch.setattr(execute.proc, "run", fake_run)
    runner: Any = _TwoFollowups()
    assert (
        execute.run_followups(
            runner, RunContext(tmp_path, 30.0), Progress("t", enabled=False), optional=for_people
        )
        is None
    )
    assert started == ran
