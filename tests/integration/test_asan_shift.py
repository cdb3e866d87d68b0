"""The asan re-run's allocation shim on a small C program: what it fixes, and what it must keep.

``tests/data/asan_shift/probe.c`` (built with ``-fsanitize=address``) runs one case
per argument; ``probe_uninstrumented.c`` (built without) writes to a freed block's
first word as the interpreter's ``Py_INCREF`` does. Without the shim ASan cannot
print that block's free stack; with it (``pyharness.native.helper``, preloaded ahead
of the runtime as the runner does) the free stack names the probe's line, and
overflows, underflows, double frees, leaks (sizes and stacks) and a clean run read
as they should.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyharness import native
from pyharness.parsers import asan as asan_parser
from pyharness.runners import asan
from pyharness.runners.base import RunContext
from tests.conftest import CHECKOUT, require_tool

pytestmark = [pytest.mark.tools]

PROBE = CHECKOUT / "tests" / "data" / "asan_shift"


def probe_line(marker: str) -> int:
    lines = (PROBE / "probe.c").read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if f"/* probe: {marker}" in text)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("gcc", "apt-get install gcc")
    out = tmp_path_factory.mktemp("probe")
    uninstrumented = out / "probe_uninstrumented.o"
    source = PROBE / "probe_uninstrumented.c"
    subprocess.run(["gcc", "-O1", "-g", "-c", str(source), "-o", str(uninstrumented)], check=True)
    binary = out / "probe"
    subprocess.run(
        ["gcc", "-O0", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", str(PROBE / "probe.c"),
         str(uninstrumented), "-o", str(binary)],
        check=True,
    )  # fmt: skip
    return binary


@pytest.fixture(scope="module")
def shim() -> Path:
    return native.helper(asan.SHIFT_HELPER, cflags=asan.SHIFT_CFLAGS, libs=asan.SHIFT_LIBS)


def run(probe: Path, case: str, tmp_path: Path, shim: Path | None) -> tuple[int, str]:
    env = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": f"log_path={tmp_path / 'asan'}:exitcode=23"}
    if shim is not None:
        env["LD_PRELOAD"] = str(shim)
        env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
    # The probe's exit status is the verdict itself: it is read, not checked.
    argv = [str(probe), case]
    done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True, timeout=60)
    logs = sorted(tmp_path.glob("asan.*"))
    return done.returncode, "".join(p.read_text() for p in logs)


def test_without_the_shim_the_free_stack_is_lost(probe: Path, tmp_path: Path) -> None:
    code, log = run(probe, "incref", tmp_path, None)
    assert code != 0
    assert "heap-use-after-free" in log
    assert 'CHECK failed: asan_descriptions.cpp:176 "((res.trace)) != (0)"' in log


def test_with_the_shim_the_free_stack_names_the_free(probe: Path, shim: Path, tmp_path: Path) -> None:
    code, log = run(probe, "incref", tmp_path, shim)
    assert code == 23 and "CHECK failed" not in log, log
    (found,) = asan_parser.parse_text(log).findings
    assert found.kind == "heap-use-after-free"
    freed = next(t for t in found.related if t.label.startswith("freed by"))
    release = next(f for f in freed.stack if f.function == "release")
    assert (Path(release.file or "").name, release.line) == ("probe.c", probe_line("the free"))


ERRORS = {
    "overflow": ("heap-buffer-overflow", "one past the end"),
    # The 16 bytes before a block are the shim's poisoned padding.
    "underflow": ("use-after-poison", "one before the start"),
    "double_free": ("double-free", "the second free"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_memory_errors_are_still_reported(probe: Path, shim: Path, tmp_path: Path, case: str) -> None:
    kind, line = ERRORS[case]
    code, log = run(probe, case, tmp_path, shim)
    assert code == 23, log
    (found,) = asan_parser.parse_text(log).findings
    assert found.kind == kind
    assert any(f.function == "main" and f.line == probe_line(line) for f in found.stack), found.stack


def test_leaks_read_the_same_with_the_shim(probe: Path, shim: Path, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "shifted").mkdir()
    plain = asan_parser.parse_text(run(probe, "leak", tmp_path / "plain", None)[1]).findings
    shifted = asan_parser.parse_text(run(probe, "leak", tmp_path / "shifted", shim)[1]).findings
    # Three leaks of 100 bytes; the block reachable only through an interior pointer is no leak.
    assert [(f.kind, f.bytes, f.blocks) for f in shifted] == [("leak.direct", 300, 3)]
    assert [(f.kind, f.bytes, f.blocks) for f in plain] == [("leak.direct", 300, 3)]
    assert [(f.function, f.line) for f in shifted[0].stack] == [(f.function, f.line) for f in plain[0].stack]


def test_a_clean_run_stays_clean(probe: Path, shim: Path, tmp_path: Path) -> None:
    """Every entry point, and blocks the shim did not shift (strdup, posix_memalign) freed through it."""
    code, log = run(probe, "clean", tmp_path, shim)
    assert (code, log) == (0, "")


def test_what_the_loader_allocates_is_no_leak(shim: Path, tmp_path: Path) -> None:
    """The interpreter as the re-run starts it (the runner's own preloads and options), loading an
    ASan-built shared object: the loader's records of the runtime's second name stay reachable
    (LSan knows the loader's blocks by their allocator's caller, so the shim passes them through)."""
    plugin = tmp_path / "plugin.so"
    source = PROBE / "plugin.c"
    argv = ["gcc", "-shared", "-fPIC", "-fsanitize=address", str(source), "-o", str(plugin)]
    subprocess.run(argv, check=True)
    code = f"import ctypes; assert ctypes.CDLL({str(plugin)!r}).plugin_answer() == 42"
    ctx = RunContext(tmp_path, 60.0, None, full_unwind=True, alloc_shim=shim)
    spec = asan.AsanRunner().launch((sys.executable, "-P", "-c", code), {"PATH": "/usr/bin:/bin"}, ctx)
    done = subprocess.run(spec.argv, check=False, env=spec.env, capture_output=True, text=True, timeout=120)
    logs = asan.log_files(tmp_path)
    assert done.returncode == 0, "".join(p.read_text() for p in logs)
    assert asan_parser.parse_files(logs).findings == ()
