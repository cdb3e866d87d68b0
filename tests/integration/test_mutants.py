"""The mutation self-test: patch headers, the verdict on measured cells, and one real mutant run.

The full run (every mutant under every tool) is `nox -s mutants`; its results are
committed (docs/mutants-results.json) and the docs' table is generated from them.
Here one mutant runs for real, under the one tool that must catch it, to show the
scratch tree, the patch and the verdict work end to end.
"""

from __future__ import annotations

import pytest

from pyharness import mutants
from tests.conftest import THIS, require_tool

ALL = mutants.load_all(THIS)


@pytest.mark.build
@pytest.mark.tools
@pytest.mark.slow
def test_the_data_race_mutant_is_caught_by_tsan() -> None:
    require_tool("g++", "apt-get install g++")
    (race,) = [m for m in ALL if m.name == "data_race_counter"]
    (outcome,) = mutants.run(THIS, [race], ["tsan"], progress=False)
    assert outcome.ok, (outcome.problem, outcome.errors, outcome.where)
    assert "csrc/core/messaging_server.cpp" in outcome.where["tsan"]
