"""Adler-32 in Python: the fallback when the C extension is not built."""

MOD_ADLER = 65521


def adler32(data: bytes, value: int = 1) -> int:
    a, b = value & 0xFFFF, (value >> 16) & 0xFFFF
    for byte in bytes(data):
        a = (a + byte) % MOD_ADLER
        b = (b + a) % MOD_ADLER
    return (b << 16) | a
