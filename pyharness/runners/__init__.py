"""Runners: how to put a subject command under each tool (argv, environment, artifacts).

Runners never spawn and never parse: they return a ``LaunchSpec`` that the
subprocess gateway executes, and name the artifacts a parser will read.
"""

from __future__ import annotations
