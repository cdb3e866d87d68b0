"""The example's own tests."""

from __future__ import annotations

from collections import Counter

import tally


def test_counts_every_byte_value() -> None:
    data = bytes(range(256)) * 3 + b"xyz"
    counts = tally.histogram(data)
    assert len(counts) == 256 and sum(counts) == len(data)
    assert counts == tuple(Counter(data).get(v, 0) for v in range(256))


def test_empty() -> None:
    assert tally.histogram(b"") == (0,) * 256
