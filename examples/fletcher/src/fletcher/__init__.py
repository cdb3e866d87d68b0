"""Fletcher-16 checksums: ``fletcher16(b"abcde") == 0xC8F0``."""

from fletcher._fletcher import fletcher16

__all__ = ["fletcher16"]
