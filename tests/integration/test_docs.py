"""The docs: generated tables agree with the baselines file, and every shell
command in them runs and ends as the doc says (extracted from the Markdown).

Blocks that call ``nox`` run whole sessions; they are executed by ``nox -s
docs``, and here only checked to name sessions that exist.
"""

from __future__ import annotations

import os
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from pyharness import build
from pyharness.netcore import doccommands
from tests.conftest import THIS, require_tool

ROOT = Path(__file__).resolve().parents[2]


DOCS = sorted((ROOT / "docs").glob("*.md"))


BLOCKS = doccommands.extract_all(DOCS)


TOOLS_IN_BLOCKS = {"valgrind": "apt-get install valgrind", "heaptrack": "apt-get install heaptrack"}


def test_nox_blocks_name_real_sessions() -> None:
    import nox.registry  # noqa: PLC0415  (only this test needs nox)

    runpy.run_path(str(ROOT / "noxfile.py"))
    sessions = set(nox.registry.get())
    for block in BLOCKS:
        for name in doccommands.nox_sessions_named(block):
            assert name in sessions, f"{block.id}: no nox session {name!r}"


@pytest.fixture(scope="module")
def doc_env(plain_build: build.Staged) -> dict[str, str]:
    for variant in ("asan", "relwithdebinfo"):
        build.stage(THIS, variant)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    # The real interpreter first (a pyenv shim is a bash script: LD_PRELOAD would profile bash),
    # and memory_profile_demo from the staged plain build, as `pip install .` would provide it.
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), str(plain_build.bin_dir), env["PATH"]))
    env["PYTHONPATH"] = str(ROOT)  # `python -m pyharness` from the checkout, as the docs say
    (Path("/tmp") / "pyharness-docs").mkdir(exist_ok=True)
    return env


@pytest.mark.build
@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.runs_nox], ids=lambda b: b.id)
def test_doc_command_runs_as_documented(block: doccommands.DocBlock, doc_env: dict[str, str]) -> None:
    for tool, hint in TOOLS_IN_BLOCKS.items():
        if tool in block.script:
            require_tool(tool, hint)
    result = doccommands.run(block, cwd=ROOT, env=doc_env, timeout_s=600)
    problem = doccommands.verdict(block, result)
    assert problem is None, problem


def test_extract_reads_expectations(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n```bash\n# expect-exit: 3\nexit 3\n```\n\n```python\nnot run\n```\n```bash\nnox -s asan\n```\n"
    )
    blocks = doccommands.extract(doc)
    assert [(b.line, b.expect_exit, b.runs_nox) for b in blocks] == [(2, 3, False), (10, 0, True)]
    assert doccommands.nox_sessions_named(blocks[1]) == ["asan"]
    assert shutil.which("bash")
    ok = doccommands.run(blocks[0], cwd=tmp_path)
    assert doccommands.verdict(blocks[0], ok) is None
    wrong = doccommands.DocBlock(doc, 2, "exit 4\n", 3)
    assert "exit 4, the doc says 3" in (
        doccommands.verdict(wrong, doccommands.run(wrong, cwd=tmp_path)) or ""
    )
