"""The explicit install lists in meson.build cover every Python file of the package."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pyharness"
SOURCES = sorted(
    p for p in PACKAGE.rglob("*.py*") if p.suffix in (".py", ".pyi") and "__pycache__" not in p.parts
)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_python_file_is_installed(source: Path) -> None:
    meson_build = source.parent / "meson.build"
    assert meson_build.is_file(), f"{source.parent} has no meson.build listing its files"
    assert f"'{source.name}'" in meson_build.read_text(), f"{source.name} is not listed in {meson_build}"
