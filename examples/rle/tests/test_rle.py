"""The example project's own tests: what its users would run, and what pyharness runs under each tool."""

from __future__ import annotations

import random

import pytest
import rle


@pytest.mark.parametrize("data", [b"", b"a", b"aaab", b"abc" * 100, bytes(1000), bytes(range(256)) * 3])
def test_round_trip(data: bytes) -> None:
    assert rle.decode(rle.encode(data)) == data


def test_runs_are_capped_at_255() -> None:
    assert rle.encode(b"x" * 300) == b"\xffx\x2dx"


def test_random_data_round_trips() -> None:
    rng = random.Random(7)
    for _ in range(200):
        data = bytes(rng.choice(b"ab") for _ in range(rng.randrange(0, 500)))
        assert rle.decode(rle.encode(data)) == data


def test_odd_length_is_rejected() -> None:
    with pytest.raises(ValueError, match="odd length"):
        rle.decode(b"\x01")


def test_encode_all_keeps_the_callers_items() -> None:
    items = [bytes([i]) * (10 + i) for i in range(8)]
    encoded = rle.encode_all(items)
    # The caller's list still owns its items: reading them after the call is fine.
    assert items == [bytes([i]) * (10 + i) for i in range(8)]
    assert [rle.decode(e) for e in encoded] == items


def test_a_large_buffer_round_trips() -> None:
    # 1 MiB of runs of one byte: encode() releases the GIL for an input this large.
    data = bytes(range(256)) * 4096
    encoded = rle.encode(data)
    assert len(encoded) == 2 * len(data)
    assert rle.decode(encoded) == data
