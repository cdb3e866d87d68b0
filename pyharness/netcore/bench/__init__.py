"""``python -m pyharness.netcore.bench``: our messaging core and real peers doing the same job, side by side.

The peers and metrics are defined once in ``catalogue``; ``child`` is the
process that runs one peer's server or client; ``measure`` drives a pair of
children through one scenario; ``runner`` interleaves peers run by run and
saves the results; ``table`` renders them. Benchmarks are not tests: nothing
here asserts a timing, but every run checks that what was sent arrived.
"""

from __future__ import annotations
