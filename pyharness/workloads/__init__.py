"""Workloads: what the subject process does, one module per scenario.

``SCENARIOS`` maps each scenario id to its ``Scenario``; the matrix workloads
among them are exactly ``matrix.WORKLOADS`` (a test holds the two together),
the rest are internal: helpers such as the client fleet, and the self-test's
canaries.
"""

from __future__ import annotations

from pyharness.workloads import canary, client_fleet, connections, messages, stability
from pyharness.workloads.common import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        connections.SCENARIO,
        messages.SCENARIO,
        stability.SCENARIO,
        client_fleet.SCENARIO,
        canary.SCENARIO,
    )
}

__all__ = ["SCENARIOS", "Scenario"]
