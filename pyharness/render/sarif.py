"""``findings.sarif``: a run's counted findings as SARIF 2.1.0, for GitHub code scanning.

The format is OASIS SARIF 2.1.0 (errata01); ``document`` builds the log as a
dict with no I/O, ``render`` writes it to the stream it is given.

Layout, chosen for what GitHub code scanning does with an upload:

- **One run, driver ``pyharness``**, rules ``<tool>/<kind>`` (``asan/leak.definite``,
  ``valgrind/invalid-read``). GitHub scopes alerts to (driver name, category) and
  closes an alert that the next upload of the same pair no longer contains; it
  no longer accepts several runs of one driver and category in a file. Runs per
  tool would need one driver name per tool (``pyharness-asan``...) and then a
  tool whose cells all passed would have to be sent as an empty run, or its
  alerts would never close. One run with an empty ``results`` closes them all,
  and the rule id still names the sanitizer. A workflow that uploads part of
  the matrix (one job per tool) gives each upload its own ``category``.
- **Only counted findings** (``Finding.counts``) become results, all ``error``:
  each one fails its cell. Foreign findings are left out: they have no location
  in the repository, and GitHub rejects a whole file when any result lacks one.
  Informational ones (a profiler's allocation sites) are left out too: an alert
  is something to fix or dismiss, and these are neither. So are suppressed ones.
  ``run.properties.omitted`` counts what was left out, per reason.
- **Location**: the project frame's repository-relative file under
  ``uriBaseId`` ``%SRCROOT%`` (``originalUriBaseIds`` says where that is when
  ``source_root`` is given) with ``region.startLine`` when the tool gave a line.
  A symbol-only frame (a function in a project extension, no file) still needs
  a physical location: its uri is the extension's file name
  (``_canaries.cpython-311-x86_64-linux-gnu.so``, no ``uriBaseId``: a build
  product, not a source), with the function as a ``logicalLocation``. A frame
  with neither file nor object (attributed by its namespace) is anchored at
  ``pyproject.toml``, the project's configuration that names those namespaces.
- **Known and gone findings**: each result has a ``baselineState`` against the
  project's known-findings file, as code scanning expects: ``new`` (it fails its
  cell), ``unchanged`` (known: it also carries an ``external`` suppression,
  ``accepted``, whose justification is the reason given), and ``absent`` for a
  known finding the run no longer saw (level ``none``, at its file, or its
  function when it has none).
- **Tests**: ``properties.tests`` lists the tests during which the finding was
  reported, when the workload marked them.
- **Related traces** (a data race's other access, where a used block was freed)
  with a project frame become ``relatedLocations``, linked from the message.
- **Fingerprints and merging**: ``partialFingerprints`` hold a digest of
  ``identity.FindingKey`` (tool, kind, file, function; not the line), so a moved
  line is the same alert. Findings with the same key, from one cell or several
  (the same leak under the messages and the stability workloads), are one
  result listing every cell: two results with one fingerprint would be one
  alert shown twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO
from urllib.parse import quote

from pyharness import __version__
from pyharness.model import Finding, Frame, KnownEntry, Summary, Trace
from pyharness.model.identity import FINGERPRINT_VERSION, FindingKey, finding_key
from pyharness.render import size_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
DRIVER = "pyharness"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = f"pyharnessFinding/{FINGERPRINT_VERSION}"
# Where a frame with neither file nor object points: the file that declares the
# project's namespaces ([tool.pyharness] namespaces), so the alert opens a real file.
NAMESPACE_ANCHOR = "pyproject.toml"

RULE_HELP = (
    "A memory tool reported this defect while pyharness ran a workload under it. The location is the "
    "first frame of the stack in the project's own code; the run's report.html shows the whole stack "
    "and the cell folder holds the tool's raw report. The message names the matrix cells that saw it."
)
# Rule texts by finding kind; any other kind gets a generic description.
KIND_DESCRIPTIONS: dict[str, str] = {
    "leak": "Memory allocated by project code was never freed",
    "leak.direct": "Memory leaked: no pointer to the block remains",
    "leak.definite": "Memory leaked: no pointer to the block remains",
    "leak.indirect": "Memory leaked: the block is reachable only from leaked blocks",
    "heap-buffer-overflow": "Access outside the bounds of a heap block",
    "stack-buffer-overflow": "Access outside the bounds of a stack object",
    "global-buffer-overflow": "Access outside the bounds of a global object",
    "heap-use-after-free": "Access to a heap block after it was freed",
    "double-free": "A heap block freed twice",
    "invalid-read": "Read of memory that is not allocated, or outside its block",
    "invalid-write": "Write to memory that is not allocated, or outside its block",
    "invalid-free": "Free of memory that was not allocated, or already freed",
    "mismatched-free": "Memory freed with a deallocator that does not match its allocator",
    "uninitialised-condition": "A branch depends on an uninitialised value",
    "uninitialised-value": "Use of an uninitialised value",
    "signed-integer-overflow": "Signed integer overflow (undefined behaviour)",
    "data-race": "Data race: two threads access one location without synchronisation, one writing",
}


@dataclass(frozen=True)
class _Merged:
    """All the findings of one key: the first one found stands for them (its line, its size)."""

    key: FindingKey
    first: Finding
    cells: tuple[str, ...]
    occurrences: int
    tests: tuple[str, ...] = ()


def _merge(summary: Summary) -> tuple[list[_Merged], dict[str, int]]:
    """Counted findings merged by key, in matrix order; and how many of each other sort were left out."""
    order: list[FindingKey] = []
    first: dict[FindingKey, Finding] = {}
    cells: dict[FindingKey, list[str]] = {}
    occurrences: dict[FindingKey, int] = {}
    tests: dict[FindingKey, list[str]] = {}
    omitted = {"suppressed": 0, "foreign": 0, "informational": 0}
    for cell in summary.cells:
        for finding in cell.findings:
            key = finding_key(finding)
            if not finding.counts or key is None:
                reason = (
                    "informational"
                    if finding.informational
                    else "foreign"
                    if finding.project_frame is None
                    else "suppressed"
                )
                omitted[reason] += 1
                continue
            if key not in first:
                order.append(key)
                first[key] = finding
                cells[key] = []
                occurrences[key] = 0
                tests[key] = []
            occurrences[key] += 1
            for test in (finding.test,) if finding.test else finding.span:
                if test not in tests[key]:
                    tests[key].append(test)
            if cell.id not in cells[key]:
                cells[key].append(cell.id)
    merged = [_Merged(k, first[k], tuple(cells[k]), occurrences[k], tuple(tests[k])) for k in order]
    return merged, omitted


def _escape(text: str) -> str:
    # SARIF 3.11.6: a literal bracket in a plain-text message is escaped, or it
    # could read as an embedded link ("char [32]" in a demangled template name).
    return text.replace("[", "\\[").replace("]", "\\]")


def _file_uri(path: str, source_root: Path | None) -> tuple[str, str | None]:
    """(uri, uriBaseId) of a source path: repository-relative under %SRCROOT%, else absolute."""
    posix = path.replace("\\", "/")
    if PurePosixPath(posix).is_absolute():
        if source_root is not None:
            try:
                relative = Path(posix).relative_to(source_root.resolve())
            except ValueError:
                return Path(posix).as_uri(), None
            return quote(relative.as_posix()), SRCROOT
        return Path(posix).as_uri(), None
    return quote(posix.removeprefix("./")), SRCROOT


def _physical(frame: Frame, source_root: Path | None) -> dict[str, Any]:
    if frame.file:
        uri, base = _file_uri(frame.file, source_root)
    elif frame.object:
        uri, base = quote(PurePosixPath(frame.object.replace("\\", "/")).name), None
    else:
        uri, base = NAMESPACE_ANCHOR, SRCROOT
    artifact: dict[str, Any] = {"uri": uri}
    if base is not None:
        artifact["uriBaseId"] = base
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if frame.file and frame.line is not None and frame.line >= 1:
        physical["region"] = {"startLine": frame.line}
    return physical


def _location(frame: Frame, source_root: Path | None) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": _physical(frame, source_root)}
    if not frame.file:
        # No source line to show: the function is the best "where" there is.
        location["logicalLocations"] = [{"fullyQualifiedName": frame.function, "kind": "function"}]
    return location


def _related(traces: tuple[Trace, ...], source_root: Path | None) -> list[dict[str, Any]]:
    related: list[dict[str, Any]] = []
    for trace in traces:
        if trace.project_frame is None:
            continue  # the other access was in foreign code: nothing of ours to point at
        location = _location(trace.project_frame, source_root)
        location["id"] = len(related) + 1
        location["message"] = {"text": _escape(trace.label or "related stack")}
        related.append(location)
    return related


def _message(merged: _Merged, related: list[dict[str, Any]]) -> str:
    finding = merged.first
    frame = finding.project_frame
    assert frame is not None  # counted findings have one
    parts = [f"{finding.tool} {finding.kind}"]
    if size := size_text(finding):
        parts.append(size)
    parts.append(f"in {frame.function}")
    text = ", ".join(parts)
    noun = "cell" if len(merged.cells) == 1 else "cells"
    text += f" (reported by {noun} {', '.join(merged.cells)}"
    if merged.occurrences > len(merged.cells):
        text += f"; {merged.occurrences} occurrences"
    text += ")."
    if finding.message:
        text += f" {finding.message.rstrip('.')}."
    text = _escape(text)
    if related:
        links = ", ".join(f"[{r['message']['text']}]({r['id']})" for r in related)
        text += f" See {links}."
    return text


def _rule(key: FindingKey) -> dict[str, Any]:
    description = KIND_DESCRIPTIONS.get(key.kind, f"{key.tool} reported {key.kind}")
    return {
        "id": key.rule,
        # GitHub filters alerts by rule name; SARIF wants an identifier-like one.
        "name": "".join(word.capitalize() for word in re.split(r"[^A-Za-z0-9]+", key.rule) if word),
        "shortDescription": {"text": f"{key.tool}: {description}"},
        "fullDescription": {"text": f"{description} ({key.tool} reports it as {key.kind})."},
        "help": {"text": RULE_HELP},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["memory", key.tool], "precision": "high"},
    }


def _result(merged: _Merged, rule_index: int, source_root: Path | None) -> dict[str, Any]:
    finding = merged.first
    frame = finding.project_frame
    assert frame is not None
    related = _related(finding.related, source_root)
    result: dict[str, Any] = {
        "ruleId": merged.key.rule,
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": _message(merged, related)},
        "locations": [_location(frame, source_root)],
        "partialFingerprints": {FINGERPRINT_KEY: merged.key.fingerprint()},
        "baselineState": "new" if finding.known is None else "unchanged",
        "properties": {"cells": list(merged.cells), "occurrences": merged.occurrences},
    }
    if finding.known is not None:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding.known}]
    if merged.tests:
        result["properties"]["tests"] = list(merged.tests)
    for name in ("bytes", "blocks"):
        if (value := getattr(finding, name)) is not None:
            result["properties"][name] = value
    if related:
        result["relatedLocations"] = related
    return result


def _absent(entry: KnownEntry, rule_index: int) -> dict[str, Any]:
    """A known finding this run no longer saw: code scanning may close its alert."""
    key = entry.key
    frame = Frame(key.function, key.file or None)
    text = f"known finding no longer seen: {entry.describe()} (accepted: {entry.reason})"
    return {
        "ruleId": key.rule,
        "ruleIndex": rule_index,
        "level": "none",
        "message": {"text": _escape(text)},
        "locations": [_location(frame, None)],
        "partialFingerprints": {FINGERPRINT_KEY: key.fingerprint()},
        "baselineState": "absent",
    }


def _invocation(summary: Summary) -> dict[str, Any]:
    notes = [
        {"level": "error", "message": {"text": _escape(f"cell {cell.id} errored: {cell.reason}")}}
        for cell in summary.cells
        if cell.status == "error"
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not notes}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def document(summary: Summary, *, source_root: Path | None = None) -> dict[str, Any]:
    """The SARIF log of ``summary``'s counted findings (see the module docstring)."""
    merged, omitted = _merge(summary)
    keys = [m.key for m in merged] + [e.key for e in summary.gone]
    rule_ids = sorted({k.rule for k in keys})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    rules = [_rule(next(k for k in keys if k.rule == rule)) for rule in rule_ids]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": DRIVER,
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(summary)],
        "results": [
            *(_result(m, index[m.key.rule], source_root) for m in merged),
            *(_absent(e, index[e.key.rule]) for e in summary.gone),
        ],
        "properties": {"run_id": summary.run_id, "omitted": omitted},
    }
    if source_root is not None:
        root = source_root.resolve().as_uri()
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root if root.endswith("/") else root + "/"}}
    if summary.git.commit:
        run["properties"]["commit"] = summary.git.commit
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render(summary: Summary, stream: TextIO, *, source_root: Path | None = None) -> None:
    """Write the SARIF log of ``summary`` to ``stream``."""
    json.dump(document(summary, source_root=source_root), stream, indent=2)
    stream.write("\n")
