"""The test tiers collect together: ``nox -s tests`` runs both in one pytest session.

pytest's default import mode puts each test file's directory on ``sys.path``
and imports the file by its basename, so two tiers holding a module of the
same name fail the whole collection ("import file mismatch"). ``nox -s unit``
alone never sees that; this test does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_modules_have_unique_basenames() -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("test_*.py"):
        seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"test modules sharing a basename break the full run's collection: {clashes}"
