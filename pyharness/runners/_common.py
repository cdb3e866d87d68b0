"""What the tool runners share: finding executables and preparing the subject's environment."""

from __future__ import annotations

import shutil
from collections.abc import Mapping

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
