"""The integration tier: tests that build a variant, run a tool or start a subject.

Markers say what each test needs (pyproject.toml lists them): ``build`` (a
built variant: the session's staged build or one of its own), ``tools`` (a
real external tool: valgrind, heaptrack, a sanitizer runtime, memray) and
``slow`` (more than a few seconds). A test that asks for the staged build
through a fixture is marked ``build`` here, so the marker cannot be forgotten;
the others carry theirs in their module. ``pytest -m "not tools"`` runs what
needs only a compiler; ``nox -s unit`` runs ``tests/unit/`` alone.
"""

from __future__ import annotations

import pytest

BUILD_FIXTURES = frozenset({"plain_build", "netcore"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BUILD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.build)
