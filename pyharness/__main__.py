"""``python -m pyharness``: the command line."""

from __future__ import annotations

import sys


def _main() -> int:
    if sys.argv[1:2] == ["scenario"]:
        # A cell's subject: only what a scenario needs (pyharness.scenario_entry says why).
        from pyharness.scenario_entry import subject  # noqa: PLC0415

        return subject(sys.argv[2:])
    from pyharness.cli import main  # noqa: PLC0415

    return main()


if __name__ == "__main__":
    sys.exit(_main())
