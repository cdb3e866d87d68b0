"""The contract of a tool's parser: artifacts on disk in, unattributed findings and metrics out.

Every tool but ``rss`` has a module ``pyharness/parsers/<tool>.py`` defining
``make_parser() -> Parser``. A parser reads the artifacts its runner named
(``artifacts``), never spawns and never attributes: it returns what the tool
said, as a ``ParsedCell`` (findings with their stacks, the tool's metrics, how
often each suppression matched). Attribution is applied once, by the cell,
with the project's policy. A truncated or corrupt artifact is a ``ParseError``
naming the file and line (a ``PartialParse`` carrying the complete reports read
before the cut, when there were any); a missing one too, when the tool always
writes it.

Each module also offers ``parse_text(text, source)`` and ``parse_files(paths)``,
both returning a ``ParsedCell``, for tests on captured real output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyharness.errors import ParseError
from pyharness.model import Finding, Metric, ParsedCell


class PartialParse(ParseError):
    """An artifact cut short (a killed or crashed run): ``partial`` holds the complete
    reports read before the cut, so a finding the tool wrote before the end is not lost."""

    def __init__(self, message: str, partial: ParsedCell) -> None:
        super().__init__(message)
        self.partial = partial


class Parser(Protocol):
    """Reads one tool's artifacts from a cell directory."""

    @property
    def id(self) -> str:
        """The tool id (``matrix.TOOLS``)."""

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        """The files ``parse`` reads, in the order it reads them."""

    def parse(self, cell_dir: Path) -> ParsedCell:
        """Unattributed findings and metrics (ParseError for a cut or corrupt artifact)."""


@dataclass(frozen=True)
class FileParser:
    """A parser made of a listing (the runner's artifact names) and a ``parse_files`` function."""

    id: str
    listing: Callable[[Path], Sequence[Path]]
    parse_files: Callable[[Iterable[Path]], ParsedCell]

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return self.listing(cell_dir)

    def parse(self, cell_dir: Path) -> ParsedCell:
        return self.parse_files(self.artifacts(cell_dir))


@dataclass(frozen=True)
class BlindParser:
    """A disabled detector (``selftest --disable-detector``): whatever the tool wrote, nothing is read."""

    id: str

    def artifacts(self, cell_dir: Path) -> Sequence[Path]:
        return ()

    def parse(self, cell_dir: Path) -> ParsedCell:
        return ParsedCell(())


def read_text(path: Path) -> str:
    """An artifact's text (undecodable bytes replaced); ParseError when it cannot be read."""
    try:
        return path.read_text(errors="replace")
    except OSError as err:
        raise ParseError(f"cannot read {path}: {err}") from err


def parse_each(
    paths: Iterable[Path],
    parse_text: Callable[[str, str], ParsedCell],
    then: Callable[[Path, ParsedCell], ParsedCell] | None = None,
) -> ParsedCell:
    """Every file parsed and merged; a file cut short (or corrupt) does not hide the others:
    what was read is raised in a ``PartialParse`` naming each bad file. ``then`` gets each
    file's result, the part read of a file cut short too (e.g. to give its findings a test)."""
    parts: list[ParsedCell] = []
    problems: list[str] = []
    for path in paths:
        try:
            one = parse_text(read_text(path), str(path))
        except PartialParse as err:
            one = err.partial
            problems.append(str(err))
        except ParseError as err:
            problems.append(str(err))
            continue
        parts.append(then(path, one) if then is not None else one)
    merged = merge(parts)
    if problems:
        raise PartialParse("; ".join(problems), merged)
    return merged


def merge(parts: Iterable[ParsedCell]) -> ParsedCell:
    """Several files' results as one: findings in order, the first metrics, suppression counts summed."""
    findings: list[Finding] = []
    metrics: tuple[Metric, ...] = ()
    suppressions: dict[str, int] = {}
    for part in parts:
        findings.extend(part.findings)
        metrics = metrics or part.metrics
        for name, count in part.suppressions.items():
            suppressions[name] = suppressions.get(name, 0) + count
    return ParsedCell(tuple(findings), metrics, suppressions)


__all__ = ["BlindParser", "FileParser", "Parser", "PartialParse", "merge", "parse_each", "read_text"]
