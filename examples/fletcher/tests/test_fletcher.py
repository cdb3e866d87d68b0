"""The example's own tests: what its users would run, and what pyharness runs under each tool."""

import fletcher
import pytest


def reference(data: bytes) -> int:
    sum1 = sum2 = 0
    for byte in data:
        sum1 = (sum1 + byte) % 255
        sum2 = (sum2 + sum1) % 255
    return (sum2 << 8) | sum1


@pytest.mark.parametrize("data", [b"", b"abcde", b"abcdef", b"abcdefgh", bytes(range(256)) * 20])
def test_matches_the_reference(data: bytes) -> None:
    assert fletcher.fletcher16(data) == reference(data)


def test_known_value() -> None:
    assert fletcher.fletcher16(b"abcde") == 0xC8F0
