"""No toolkit function over 60 lines, unless its docstring says why ("long because ...")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pyharness"
LIMIT = 60


def test_no_function_is_over_the_limit_without_a_reason() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                reason = "long because" in (ast.get_docstring(node) or "")
                if length > LIMIT and not reason:
                    where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                    long.append(f"{where} {node.name} ({length} lines)")
    assert not long, f"split these, or say in the docstring why they are long: {long}"
