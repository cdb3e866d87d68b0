"""addr2line places the frames a sanitizer runtime left as ``(object+0xOFFSET)``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyharness import symbolize
from pyharness.model import Finding, Frame, Trace
from pyharness.parsers import asan

SOURCE = """\
int planted(int n) {
  int* block = new int[n];
  return block[0] = n;
}
"""


@pytest.mark.build
def test_an_unplaced_frame_gets_its_file_and_line_and_a_placed_one_is_left_alone(tmp_path: Path) -> None:
    if shutil.which("addr2line") is None or shutil.which("g++") is None:
        pytest.skip("needs binutils' addr2line and g++ (apt-get install binutils g++)")
    (tmp_path / "planted.cpp").write_text(SOURCE)
    lib = tmp_path / "libplanted.so"
    subprocess.run(
        ["g++", "-g", "-O0", "-fPIC", "-shared", "-o", str(lib), "planted.cpp"], cwd=tmp_path, check=True
    )
    nm = subprocess.run(["nm", str(lib)], capture_output=True, text=True, check=True).stdout
    start = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith("_Z7plantedi"))
    # The runtime's own line for a frame it could not place, as the parser reads it.
    frame = asan.parse_frame(f"    #1 0x7f0000001234 in planted(int) ({lib}+{hex(start + 8)})")
    assert frame is not None and frame.file is None and frame.offset == start + 8
    placed_already = Frame("other()", "src/other.cpp", 7)
    finding = Finding("asan", "leak.direct", "Direct leak", stack=(frame, placed_already),
                      related=(Trace("freed by", (frame,)),))  # fmt: skip
    (filled,) = symbolize.fill([finding])
    assert filled.stack[0].file is not None and filled.stack[0].file.endswith("planted.cpp")
    assert filled.stack[0].line in (1, 2), filled.stack[0]
    assert filled.stack[0].function == "planted(int)", "the runtime's function name is kept"
    assert filled.stack[1] == placed_already
    assert filled.related[0].stack[0] == filled.stack[0]
    # An object that is gone leaves the frame as it was.
    gone = Frame("x()", object=str(tmp_path / "missing.so"), offset=16)
    (same,) = symbolize.fill([Finding("asan", "leak.direct", "m", stack=(gone,))])
    assert same.stack == (gone,)
