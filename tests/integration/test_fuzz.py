"""The frame decoder's libFuzzer target: bounded runs under ASan+UBSan (clang from Debian).

One run on the real decoder must find nothing; one on a decoder with a planted
off-by-one in the length check must be caught, so the target can fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool

pytestmark = [pytest.mark.tools, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "csrc" / "fuzz" / "fuzz_frame_decoder.cpp"
DECODER = ROOT / "csrc" / "core" / "frame_decoder.cpp"
FLAGS = ["-std=c++17", "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=undefined"]
CLEAN_SECONDS = 20
PLANTED_SECONDS = 60


def build(tmp: Path, decoder: Path, include: Path) -> Path:
    require_tool("clang++", "apt-get install clang libclang-rt-14-dev")
    binary = tmp / "fuzz_frame_decoder"
    subprocess.run(
        [
            "clang++",
            *FLAGS,
            f"-I{include}",
            f"-I{ROOT / 'csrc'}",
            str(TARGET),
            str(decoder),
            "-o",
            str(binary),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


def fuzz(binary: Path, tmp: Path, seconds: int) -> subprocess.CompletedProcess[str]:
    corpus = tmp / "corpus"
    corpus.mkdir(exist_ok=True)
    return subprocess.run(
        [
            str(binary),
            f"-max_total_time={seconds}",
            f"-artifact_prefix={tmp}/",
            str(corpus),
            str(ROOT / "csrc" / "fuzz" / "corpus"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )


def test_fuzzing_the_decoder_finds_nothing(tmp_path: Path) -> None:
    binary = build(tmp_path, DECODER, ROOT / "csrc")
    run = fuzz(binary, tmp_path, CLEAN_SECONDS)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr


def test_fuzzer_catches_a_planted_off_by_one(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    (planted / "core").mkdir(parents=True)
    for where in (planted, planted / "core"):  # included as "frame_decoder.hpp" and "core/frame_decoder.hpp"
        shutil.copy(ROOT / "csrc" / "core" / "frame_decoder.hpp", where)
    source = DECODER.read_text()
    bug = source.replace("if (length_ > max_frame_) {", "if (length_ > max_frame_ + 1) {")
    assert bug != source, "the planted bug no longer applies: update this test"
    (planted / "frame_decoder.cpp").write_text(bug)
    binary = build(tmp_path, planted / "frame_decoder.cpp", planted)
    run = fuzz(binary, tmp_path, PLANTED_SECONDS)
    assert run.returncode != 0, "the fuzzer missed an off-by-one in the length check"
    assert "deadly signal" in run.stderr or "ERROR" in run.stderr
