"""``python -m pyharness.netcore.bench``: our messaging core and real peers doing the same job, side by side.

The peers, metrics and targets are defined once in ``catalogue`` (the
reference rows included: ``loopback_limit``, the kernel's own rate); ``child``
is the process that runs one peer's server or client; ``measure`` drives a
pair of children through one scenario and samples their threads
(``threads``); ``runner`` interleaves peers run by run and saves the results;
``model`` takes every comparison within each run and judges it; ``table`` and
``markdown`` render them. Benchmarks are not tests: nothing here asserts a
timing, but every run checks that what was sent arrived.
"""

from __future__ import annotations
