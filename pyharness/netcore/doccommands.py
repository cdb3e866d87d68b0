"""The shell commands of the docs: extracted from the Markdown, executed, checked.

Every fenced block whose info string is ``bash`` is one script. A comment line
``# expect-exit: N`` in a block says the script must exit with N (a command
shown failing on purpose); otherwise it must exit 0. ``nox`` lines are run by
``nox -s docs`` (they build and run whole sessions); everything else is also
run by ``tests/integration/test_docs.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyharness.api import LaunchSpec, ProcResult, run_command

FENCE = re.compile(r"^```bash\n(?P<body>.*?)^```$", re.DOTALL | re.MULTILINE)
EXPECT = re.compile(r"^# expect-exit: (?P<code>\d+)$", re.MULTILINE)
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class DocBlock:
    """One ``bash`` block of a doc."""

    path: Path
    line: int  # 1-based line of the opening fence
    script: str
    expect_exit: int

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runs_nox(self) -> bool:
        return any(line.split()[:1] == ["nox"] for line in self.script.splitlines())


def extract(path: Path) -> list[DocBlock]:
    """Every ``bash`` block of the Markdown file ``path``."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        body = match.group("body")
        expect = EXPECT.search(body)
        blocks.append(
            DocBlock(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                script=body,
                expect_exit=int(expect.group("code")) if expect else 0,
            )
        )
    return blocks


def extract_all(paths: Iterable[Path]) -> list[DocBlock]:
    return [block for path in paths for block in extract(path)]


def nox_sessions_named(block: DocBlock) -> list[str]:
    """The sessions a block's ``nox -s NAME`` lines ask for (``nox`` alone: the default)."""
    names = []
    for line in block.script.splitlines():
        words = line.split()
        if words[:1] == ["nox"] and "-s" in words:
            names.append(words[words.index("-s") + 1])
    return names


def run(
    block: DocBlock, *, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ProcResult:
    """Execute a block with bash (``-e``: a failing line ends it), from ``cwd``."""
    spec = LaunchSpec(
        ("bash", "-e", "-o", "pipefail", "-c", block.script),
        dict(os.environ if env is None else env),
        timeout_s,
        cwd=cwd,
        label=f"doc {block.id}",
    )
    return run_command(spec, sample_interval=None)


def verdict(block: DocBlock, result: ProcResult) -> str | None:
    """None when the block behaved as documented, else what went wrong."""
    if result.timed_out or result.signal is not None:
        return f"{block.id}: {result.describe()}"
    if result.returncode != block.expect_exit:
        tail = "\n".join(result.stderr_tail.splitlines()[-10:])
        return f"{block.id}: exit {result.returncode}, the doc says {block.expect_exit}\n{tail}"
    return None
