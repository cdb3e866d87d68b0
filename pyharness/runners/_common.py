"""What the tool runners share: where the suppression files live and how the subject's
environment is prepared for a tool."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from pyharness.errors import ToolMissingError
from pyharness.matrix import TOOLS

# suppressions/ sits beside the package in a checkout; a staged copy of the
# package has none, so the runners always point at the source tree's files.
SUPPRESSIONS_DIR = Path(__file__).resolve().parent.parent.parent / "suppressions"


def require_executable(tool_id: str, executable: str) -> str:
    """The absolute path of ``executable``, or ToolMissingError with the matrix's install hint."""
    path = shutil.which(executable)
    if path is None:
        raise ToolMissingError(tool_id, TOOLS[tool_id].install_hint)
    return path


def require_file(tool_id: str, path: Path) -> Path:
    """A file the tool's command line names (a suppression file); missing means a broken checkout."""
    if not path.is_file():
        raise ToolMissingError(tool_id, f"restore {path} from the project checkout")
    return path


def tool_env(env: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """``env`` with ``overrides`` applied and any inherited LD_PRELOAD removed.

    A preloaded sanitizer runtime left over from another cell would break
    Valgrind and heaptrack alike; runners that need LD_PRELOAD set it themselves.
    """
    out = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    out.update(overrides)
    return out
