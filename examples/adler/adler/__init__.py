"""Adler-32 checksums: ``adler32(b"Wikipedia") == 0x11E60398``.

The C extension ``adler._adler`` does the work; without it (a source tree
that was never built) the pure-Python fallback does, as many PyPI packages
fall back silently. ``IMPLEMENTATION`` says which one was imported.
"""

try:
    from adler._adler import adler32

    IMPLEMENTATION = "c"
except ImportError:
    from adler._pure import adler32

    IMPLEMENTATION = "python"

__all__ = ["IMPLEMENTATION", "adler32"]
