"""What the tool runners share: finding executables and preparing the subject's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pyharness.errors import ToolMissingError
from pyharness.matrix import TOOLS


def require_executable(tool_id: str, executable: str) -> str:
    """The absolute path of ``executable``, or ToolMissingError with the matrix's install hint."""
    path = shutil.which(executable)
    if path is None:
        raise ToolMissingError(tool_id, TOOLS[tool_id].install_hint)
    return path


def tool_env(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """``env`` with ``overrides`` applied and any inherited LD_PRELOAD removed.

    A preloaded sanitizer runtime left over from another cell would break
    Valgrind and heaptrack alike; runners that need LD_PRELOAD set it themselves.
    """
    out = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    out.update(overrides)
    return out


def compiler_library(compiler: str, library: str, tool_id: str) -> Path:
    """A runtime library the compiler links against (``g++ -print-file-name=libasan.so``), or
    ToolMissingError with the tool's install hint. ``-print-file-name`` echoes the bare name
    back when the library is not installed."""
    exe = shutil.which(compiler)
    if exe is None:
        raise ToolMissingError(tool_id, TOOLS[tool_id].install_hint)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # never a sanitizer in the compiler
    try:
        # Not through the gateway: a one-line query of the compiler, not a subject or a tool run.
        out = subprocess.run(
            [exe, f"-print-file-name={library}"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=env,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as err:
        raise ToolMissingError(tool_id, TOOLS[tool_id].install_hint) from err
    path = Path(out)
    if not path.is_absolute() or not path.exists():
        raise ToolMissingError(tool_id, TOOLS[tool_id].install_hint)
    return path.resolve()


def per_pid_logs(cell_dir: Path, prefix: str, stderr_file: str) -> list[Path]:
    """A sanitizer's artifacts: every ``<prefix>.<pid>`` log, then the subject's stderr."""
    logs = sorted(cell_dir.glob(f"{prefix}.*"), key=lambda p: p.name)
    stderr = cell_dir / stderr_file
    return [*logs, *([stderr] if stderr.is_file() else [])]
