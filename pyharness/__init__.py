"""pyharness: a sanitizer and memory-profiling matrix for a C++ core with a Python front."""

from __future__ import annotations

__version__ = "0.1.0"
