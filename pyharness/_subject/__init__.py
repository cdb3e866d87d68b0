"""Modules that run inside the subject, not in pyharness: standard library only (and their host).

This folder goes on the subject's ``PYTHONPATH`` (``pyharness.pertest.pythonpath``),
so each module here is importable in the subject by its own top-level name,
whatever interpreter the subject runs and whether pyharness is installed there:
``_pyharness_pertest``, the pytest plugin that marks test boundaries for every
tool. Names start with ``_pyharness_`` so that none shadows a module of the
subject's.
"""
