"""Run-length encoding: ``encode(b"aaab") == b"\x03a\x01b"`` (count, byte; runs of at most 255)."""

from rle._rle import count_runs, decode, encode, encode_all

__all__ = ["count_runs", "decode", "encode", "encode_all"]
