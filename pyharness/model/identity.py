"""When two findings are the same defect: across the cells of a run, across runs, across uploads.

One key serves the SARIF renderer (merging a finding several cells reported,
and its ``partialFingerprints``) and ``diff`` (findings new in B, gone from A):
the tool, the kind, and the project frame's file and function. Not the line,
the bytes or the stack below the project frame: an edit above the function
moves its line, and a bigger workload leaks more bytes through the same
``new``, yet it is the same defect and must not come back as a new one.
Two distinct leaks in one function therefore share a key; a report shows them
as one defect with several occurrences.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyharness.model.cell import Finding

FINGERPRINT_VERSION = "v1"  # bump when the key's fields or their normal form change


class FindingKey(NamedTuple):
    tool: str
    kind: str
    file: str  # repository-relative; "" for a symbol-only frame (no file, an object or a namespace)
    function: str

    @property
    def rule(self) -> str:
        """``asan/leak.definite``: the SARIF ruleId and how a report names the finding's kind."""
        return f"{self.tool}/{self.kind}"

    def fingerprint(self) -> str:
        """A stable hex digest of the key (a hash, so a path or a symbol is not spelled out twice)."""
        text = "\x1f".join((FINGERPRINT_VERSION, *self))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def finding_key(finding: Finding) -> FindingKey | None:
    """The key of an attributed finding; None when it has no project frame (nothing to name it by)."""
    frame = finding.project_frame
    if frame is None:
        return None
    # Whitespace inside a demangled name differs between tools' demanglers.
    function = " ".join(frame.function.split())
    return FindingKey(finding.tool, finding.kind, (frame.file or "").strip(), function)


@dataclass(frozen=True)
class KnownEntry:
    """A finding a project accepted with a reason (its known-findings file, ``pyharness.known``)."""

    key: FindingKey
    reason: str
    date: str  # ISO 8601 day

    def describe(self) -> str:
        where = self.key.file or "no file"
        return f"{self.key.rule} in {self.key.function} ({where})"

    def to_json(self) -> dict[str, Any]:
        return {**self.key._asdict(), "reason": self.reason, "date": self.date}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KnownEntry:
        key = FindingKey(str(d["tool"]), str(d["kind"]), str(d.get("file", "")), str(d["function"]))
        return cls(key, str(d.get("reason", "")), str(d.get("date", "")))
