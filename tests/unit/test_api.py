"""The public API's lazy names: the table, the type checker's imports and ``__all__`` say the same.

``pyharness.api`` imports each name on first use (PEP 562). Its table (``_LAZY``) is what runs;
the ``if TYPE_CHECKING:`` imports are what mypy and editors read. A name added to one and not
the other would type-check and then fail at run time, or run and be invisible to the checker.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from pyharness import api

SOURCE = Path(api.__file__)


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    )
    out: dict[str, tuple[str, str]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.dump(node)
        for alias in node.names:
            out[alias.asname or alias.name] = (node.module, alias.name)
    return out


def test_the_lazy_table_matches_the_type_checkers_imports_and_all() -> None:
    assert _type_checking_imports() == api._LAZY
    assert sorted(api.__all__) == sorted(api._LAZY)
    assert len(api.__all__) == len(set(api.__all__))


def test_every_lazy_name_resolves_to_what_its_module_holds() -> None:
    for name, (module, attr) in api._LAZY.items():
        assert getattr(api, name) is getattr(importlib.import_module(module), attr), name


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        api.NoSuchName  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "NoSuchName" in str(err)
    else:
        raise AssertionError("pyharness.api.NoSuchName resolved")
