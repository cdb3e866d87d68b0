"""Byte histograms: ``histogram(b"aab")[ord("a")] == 2``."""

from tally._tally import histogram

__all__ = ["histogram"]
