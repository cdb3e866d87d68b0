"""The command line (placeholder until the harness CLI lands)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    print("pyharness: the command line is not built yet")
    return 2
