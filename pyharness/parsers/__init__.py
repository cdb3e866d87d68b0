"""Parsers: one tool's artifacts on disk in, unattributed findings and metrics out.

One module per tool (``asan``, ``valgrind``, ``heaptrack``, ``tsan``, ``memray``),
each with ``make_parser()`` returning a ``base.Parser``, plus ``junit``, which
reads a test suite's own report rather than a tool's. Parsers never spawn and
never attribute; each module's docstring cites the format's documentation and
shows the lines it matches.
"""
