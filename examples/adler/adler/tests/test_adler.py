"""The example's own tests, inside its package: pytest imports them as ``adler.tests.test_adler``
with the project's root first on ``sys.path`` (its rootdir), as in many flat projects."""

import random
import zlib

import pytest

import adler


@pytest.mark.parametrize("data", [b"", b"a", b"Wikipedia", bytes(range(256)) * 40, b"\xff" * 6000])
def test_matches_zlib(data: bytes) -> None:
    assert adler.adler32(data) == zlib.adler32(data)


def test_running_value() -> None:
    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(5000))
    assert adler.adler32(data[2500:], adler.adler32(data[:2500])) == zlib.adler32(data)


def test_rejects_text() -> None:
    with pytest.raises(TypeError):
        adler.adler32("text")  # type: ignore[arg-type]
