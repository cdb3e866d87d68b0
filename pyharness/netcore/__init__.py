"""The messaging core as pyharness's first subject: its scenarios, judges, canaries, bench and docs.

The toolkit imports nothing of this package; this repository's own
``[tool.pyharness]`` table names it (scenarios by import path, the self-test
plan, the baseline probe), as any project would name its own.
"""
