"""Known findings: defects a project has seen, accepted with a reason, and keeps in git.

A suppression hides a finding everywhere, for good, with no reason and no word
that it matched. A known finding is the opposite: it is still reported, every
time, as *known*, with the reason someone gave; only *new* findings fail a
cell; and a known finding that is no longer seen is reported as *gone*, so its
entry can be removed. The file lives at the project root (``known-findings.toml``,
or ``[tool.pyharness] known-findings``), is written by ``pyharness accept`` and
reviewed like any other change::

    # Findings accepted as known (pyharness accept): reported as known, never failing a cell.
    [[finding]]
    tool = "asan"
    kind = "leak.definite"
    file = "src/_rle.c"
    function = "rle_encode"
    reason = "the cache is freed at interpreter exit, which LSan does not see"
    date = "2026-12-02"

An entry is a fingerprint (``model.identity.FindingKey``: tool, kind, the
project frame's file and function; no line, so an edit above the function does
not make the defect new), its reason and the date it was accepted. Everything
here is pure but ``load`` and ``write``.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pyharness.errors import ConfigError
from pyharness.files import write_atomic
from pyharness.model import CellReport, Finding, FindingKey, KnownEntry, finding_key

HEADER = (
    "# Findings accepted as known, each with its reason (written by `pyharness accept`, reviewed in git).\n"
    "# A known finding is still reported, as known; it does not fail its cell. A new one does.\n"
    "# An entry no longer seen is reported as gone: remove it then.\n"
)
_FIELDS = ("tool", "kind", "file", "function", "reason", "date")


@dataclass(frozen=True)
class KnownFindings:
    """A project's known-findings file, as read (empty when the file does not exist)."""

    path: Path
    entries: tuple[KnownEntry, ...] = ()

    def match(self, finding: Finding) -> KnownEntry | None:
        """The entry that accepts ``finding`` (by fingerprint), or None."""
        key = finding_key(finding)
        if key is None:
            return None
        return next((e for e in self.entries if e.key == key), None)

    def mark(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        """``findings`` with each counted one the file accepts marked ``known`` (its reason)."""
        out = []
        for finding in findings:
            entry = self.match(finding) if finding.counts else None
            out.append(replace(finding, known=entry.reason) if entry is not None else finding)
        return tuple(out)

    def identity(self) -> str:
        """The entries as text: what a cached cell's verdict depends on."""
        return json.dumps([[*e.key, e.reason] for e in self.entries])


def load(path: Path) -> KnownFindings:
    """The file at ``path`` (ConfigError naming the entry and field when it is malformed)."""
    if not path.is_file():
        return KnownFindings(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read it as TOML: {err}") from err
    raw = doc.get("finding", [])
    if not isinstance(raw, list) or set(doc) - {"finding"}:
        raise ConfigError(f"{path}: expected only [[finding]] tables, got {', '.join(sorted(doc))}")
    entries = []
    for i, item in enumerate(raw, 1):
        where = f"{path}: [[finding]] #{i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: not a table")
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; expected {', '.join(_FIELDS)}")
        for name in _FIELDS:
            value = item.get(name, "" if name == "file" else None)
            if not isinstance(value, str) or (name != "file" and not value.strip()):
                raise ConfigError(f"{where}: {name} must be a non-empty string, got {value!r}")
        key = FindingKey(item["tool"], item["kind"], item.get("file", ""), item["function"])
        entries.append(KnownEntry(key, item["reason"], item["date"]))
    return KnownFindings(path, tuple(entries))


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def dumps(entries: Sequence[KnownEntry]) -> str:
    """The file's text: the header, then one ``[[finding]]`` table per entry."""
    blocks = [HEADER]
    for e in entries:
        fields = dict(zip(("tool", "kind", "file", "function"), e.key, strict=True))
        fields.update(reason=e.reason, date=e.date)
        blocks.append("\n[[finding]]\n" + "".join(f"{k} = {_quote(v)}\n" for k, v in fields.items()))
    return "".join(blocks)


def write(known: KnownFindings) -> None:
    write_atomic(known.path, dumps(known.entries))


def accept(
    known: KnownFindings, findings: Iterable[Finding], reason: str, *, today: dt.date | None = None
) -> tuple[KnownFindings, tuple[KnownEntry, ...]]:
    """``known`` with an entry for every counted finding it does not accept yet; and the new entries."""
    if not reason.strip():
        raise ConfigError("a known finding needs a reason: --reason 'why this is accepted'")
    day = (today or dt.date.today()).isoformat()
    have = {e.key for e in known.entries}
    added: list[KnownEntry] = []
    for finding in findings:
        key = finding_key(finding)
        if not finding.counts or key is None or key in have:
            continue
        have.add(key)
        added.append(KnownEntry(key, reason.strip(), day))
    return replace(known, entries=(*known.entries, *added)), tuple(added)


def gone(
    known: KnownFindings, cells: Sequence[CellReport], matrix: Mapping[str, Iterable[str]]
) -> tuple[KnownEntry, ...]:
    """Entries that no judged cell of a run saw, among the tools whose whole matrix it ran.

    Only a tool that ran every workload of the project's matrix (``matrix``: tool ->
    its workloads) can say a finding is gone: an asan entry is not gone from a run of
    valgrind cells, nor from a run of one asan workload when another one found it. A
    cell that erred or was skipped says nothing either way.
    """
    judged = [c for c in cells if c.status in ("pass", "fail")]
    ran: dict[str, set[str]] = {}
    for c in judged:
        ran.setdefault(c.tool, set()).add(c.workload)
    whole = {tool for tool, workloads in matrix.items() if set(workloads) <= ran.get(tool, set())}
    seen = {finding_key(f) for c in judged for f in c.findings if f.counts}
    return tuple(e for e in known.entries if e.key.tool in whole and e.key not in seen)
