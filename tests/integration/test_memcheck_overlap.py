"""Why memcheck reports no overlapping memcpy here: shown on a small C program, at -O0 and -O2.

``tests/data/memcheck_overlap/overlap.c`` copies overlapping ranges with ``memcpy``
of a constant small size, a constant large size and a size known only at run time,
and, as the control, with ``strcpy``. memcheck reports the ``strcpy`` (an
``Overlap`` error, which the parser counts) and none of the ``memcpy`` calls, at
either level, even those that do call ``memcpy@plt``: the call goes through glibc's
IFUNC to ``__memcpy_avx_unaligned_erms`` (or another CPU's variant), which is the
same code at the same address as ``__memmove_avx_unaligned_erms``, and Valgrind
redirects that address to its ``memmove`` replacement, which checks nothing
(``valgrind -v``: "REDIR: ... (libc.so.6:__memcpy_avx_unaligned_erms) redirected to
... (memmove)"). The constant sizes are not calls at all (gcc expands them into
moves, the small one even at -O0), so no tool that intercepts ``memcpy`` sees them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pyharness.parsers import valgrind as valgrind_parser
from tests.conftest import CHECKOUT, require_tool

pytestmark = [pytest.mark.tools]

SOURCE = CHECKOUT / "tests" / "data" / "memcheck_overlap" / "overlap.c"
LEVELS = ("-O0", "-O2")
CASES = ("const_small", "const_large", "variable")
# The IFUNC's memcpy, whatever its CPU variant's name (or none: no debug symbols), sent to memmove.
MEMCPY_AS_MEMMOVE = re.compile(
    r"REDIR: 0x[0-9a-f]+ \(libc\.so[.\d]*:(?:__memcpy\w*|\?\?\?)\) redirected to .*\(memmove\)"
)


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("valgrind", "apt-get install valgrind")
    require_tool("gcc", "apt-get install gcc")
    out = tmp_path_factory.mktemp("overlap")
    built = {}
    for level in LEVELS:
        built[level] = out / f"overlap{level}"
        subprocess.run(["gcc", level, "-g", str(SOURCE), "-o", str(built[level])], check=True)
    return built


def memcheck(program: Path, case: str, tmp_path: Path) -> list[str]:
    xml = tmp_path / f"{program.name}-{case}.xml"
    argv = ["valgrind", "--quiet", "--xml=yes", f"--xml-file={xml}", str(program), case]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return [f.kind for f in valgrind_parser.parse_files([xml]).findings]


@pytest.mark.parametrize("level", LEVELS)
def test_memcheck_reports_an_overlapping_strcpy(
    programs: dict[str, Path], tmp_path: Path, level: str
) -> None:
    assert memcheck(programs[level], "strcpy", tmp_path) == ["overlap"]


@pytest.mark.parametrize("level", LEVELS)
def test_memcheck_reports_no_overlapping_memcpy(
    programs: dict[str, Path], tmp_path: Path, level: str
) -> None:
    assert {case: memcheck(programs[level], case, tmp_path) for case in CASES} == {case: [] for case in CASES}


def test_the_memcpy_called_is_redirected_to_memmove(programs: dict[str, Path]) -> None:
    verbose = subprocess.run(
        ["valgrind", "-v", str(programs["-O2"]), "variable"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert MEMCPY_AS_MEMMOVE.search(verbose.stderr), "the IFUNC's memcpy has its own replacement now"


def test_constant_sizes_are_not_calls(programs: dict[str, Path]) -> None:
    require_tool("objdump", "apt-get install binutils")

    def calls(level: str, function: str) -> bool:
        text = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(programs[level])],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        body = text.split(f"<{function}>:", 1)[1].split("\n\n", 1)[0]
        return "memcpy" in body

    assert (calls("-O0", "const_small"), calls("-O2", "const_small")) == (False, False)
    assert (calls("-O0", "const_large"), calls("-O2", "const_large")) == (True, False)
    assert (calls("-O0", "variable"), calls("-O2", "variable")) == (True, True)
