"""Native coverage: which lines, branches and functions of the project's sources ran.

A ``Coverage`` is what one cell's counters said (``pyharness.parsers.coverage``
reads it, attribution keeps the project's files) or what several cells said
together (``merge``: the run's coverage, "paths no tool saw"). It keeps what
never ran rather than what did: the lines never executed, the branches never
taken and the functions never entered, with the totals. Merging is then exact:
a line no workload executed is one every cell lists, so the run's misses are
the intersection of the cells' misses, and nothing needs the counts themselves.

Branches are numbered by their order on a line (as gcov lists them), so two
cells of one build name the same branch alike. A *branch never taken* is a
branch of a line that ran (its condition was evaluated) that was never
followed: in a networking core, nearly always an error path (a failed call, a
full table, a peer that went away). Branches of lines that never ran are
counted as missed but not listed: their lines are.

Pure data and pure functions: nothing here reads a file or starts a process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class FunctionRef:
    """A function of the project's sources, by where it starts and its (demangled) name."""

    line: int
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "name": self.name}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FunctionRef:
        return cls(int(d["line"]), str(d["name"]))


@dataclass(frozen=True)
class LineBranches:
    """One line's branches of which some were never taken (``missed``: their indexes)."""

    line: int
    total: int
    missed: tuple[int, ...]
    function: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "total": self.total,
            "missed": list(self.missed),
            "function": self.function,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LineBranches:
        missed = tuple(int(i) for i in d.get("missed", ()))
        return cls(int(d["line"]), int(d["total"]), missed, str(d.get("function", "")))


@dataclass(frozen=True)
class FileCoverage:
    """One source file: its totals and what never ran."""

    file: str  # root-relative once attributed; as gcovr printed it before
    lines_total: int
    lines_missed: tuple[int, ...] = ()  # line numbers never executed, sorted
    branches_total: int = 0
    branch_lines: tuple[LineBranches, ...] = ()  # lines with a branch never taken, sorted
    functions_total: int = 0
    functions_missed: tuple[FunctionRef, ...] = ()  # never entered, sorted by line

    @property
    def lines_covered(self) -> int:
        return self.lines_total - len(self.lines_missed)

    @property
    def branches_missed(self) -> int:
        return sum(len(b.missed) for b in self.branch_lines)

    @property
    def branches_covered(self) -> int:
        return self.branches_total - self.branches_missed

    @property
    def functions_covered(self) -> int:
        return self.functions_total - len(self.functions_missed)

    def untaken(self) -> tuple[LineBranches, ...]:
        """Branches never taken on lines that ran: the paths a condition never chose."""
        never_ran = set(self.lines_missed)
        return tuple(b for b in self.branch_lines if b.line not in never_ran)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "lines_total": self.lines_total,
            "lines_missed": list(self.lines_missed),
            "branches_total": self.branches_total,
            "branch_lines": [b.to_json() for b in self.branch_lines],
            "functions_total": self.functions_total,
            "functions_missed": [f.to_json() for f in self.functions_missed],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileCoverage:
        return cls(
            file=str(d["file"]),
            lines_total=int(d.get("lines_total", 0)),
            lines_missed=tuple(int(n) for n in d.get("lines_missed", ())),
            branches_total=int(d.get("branches_total", 0)),
            branch_lines=tuple(LineBranches.from_json(b) for b in d.get("branch_lines", ())),
            functions_total=int(d.get("functions_total", 0)),
            functions_missed=tuple(FunctionRef.from_json(f) for f in d.get("functions_missed", ())),
        )


@dataclass(frozen=True)
class Totals:
    """Covered and total lines, branches and functions of some files."""

    lines_covered: int = 0
    lines_total: int = 0
    branches_covered: int = 0
    branches_total: int = 0
    functions_covered: int = 0
    functions_total: int = 0

    @property
    def lines_percent(self) -> float:
        return percent(self.lines_covered, self.lines_total)

    @property
    def branches_percent(self) -> float:
        return percent(self.branches_covered, self.branches_total)

    @property
    def functions_percent(self) -> float:
        return percent(self.functions_covered, self.functions_total)

    def to_json(self) -> dict[str, Any]:
        return {
            "lines_covered": self.lines_covered,
            "lines_total": self.lines_total,
            "lines_percent": round(self.lines_percent, 2),
            "branches_covered": self.branches_covered,
            "branches_total": self.branches_total,
            "branches_percent": round(self.branches_percent, 2),
            "functions_covered": self.functions_covered,
            "functions_total": self.functions_total,
            "functions_percent": round(self.functions_percent, 2),
        }


def percent(covered: int, total: int) -> float:
    """``covered`` of ``total`` in percent; 100 for nothing to cover (nothing was missed)."""
    return 100.0 * covered / total if total else 100.0


@dataclass(frozen=True)
class Coverage:
    """The coverage of some files by one cell, or by several merged (``merge``)."""

    files: tuple[FileCoverage, ...]  # sorted by file
    cells: tuple[str, ...] = ()  # the ids of the cells whose counters these are

    def totals(self, prefix: str = "") -> Totals:
        """The totals of the files whose path starts with ``prefix`` (all by default)."""
        chosen = [f for f in self.files if f.file.startswith(prefix)]
        return Totals(
            sum(f.lines_covered for f in chosen),
            sum(f.lines_total for f in chosen),
            sum(f.branches_covered for f in chosen),
            sum(f.branches_total for f in chosen),
            sum(f.functions_covered for f in chosen),
            sum(f.functions_total for f in chosen),
        )

    def folders(self) -> tuple[tuple[str, Totals], ...]:
        """Each folder holding a file, with the totals of the files directly in it."""
        names = sorted({f.file.rsplit("/", 1)[0] if "/" in f.file else "." for f in self.files})
        out = []
        for name in names:
            inside = [f for f in self.files if (f.file.rsplit("/", 1)[0] if "/" in f.file else ".") == name]
            out.append((name, Coverage(tuple(inside)).totals()))
        return tuple(out)

    def functions_never_executed(self) -> tuple[tuple[str, FunctionRef], ...]:
        """(file, function) for every function no counter saw entered."""
        return tuple((f.file, fn) for f in self.files for fn in f.functions_missed)

    def branches_never_taken(self) -> tuple[tuple[str, LineBranches], ...]:
        """(file, line's branches) for every branch of a line that ran but was never followed."""
        return tuple((f.file, b) for f in self.files for b in f.untaken())

    def to_json(self) -> dict[str, Any]:
        return {
            "cells": list(self.cells),
            "totals": self.totals().to_json(),
            "files": [f.to_json() for f in self.files],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Coverage:
        return cls(
            tuple(FileCoverage.from_json(f) for f in d.get("files", ())),
            tuple(str(c) for c in d.get("cells", ())),
        )


def merge(parts: Sequence[Coverage]) -> Coverage | None:
    """What every part's counters say together: a line, branch or function is missed only when
    every part that has its file missed it. None for no parts."""
    if not parts:
        return None
    by_file: dict[str, list[FileCoverage]] = {}
    for part in parts:
        for f in part.files:
            by_file.setdefault(f.file, []).append(f)
    files = tuple(_merge_file(name, by_file[name]) for name in sorted(by_file))
    cells = tuple(c for part in parts for c in part.cells)
    return Coverage(files, cells)


def _merge_file(name: str, versions: Sequence[FileCoverage]) -> FileCoverage:
    first = versions[0]
    lines = set(first.lines_missed)
    functions = set(first.functions_missed)
    branches = {b.line: b for b in first.branch_lines}
    for other in versions[1:]:
        lines &= set(other.lines_missed)
        functions &= set(other.functions_missed)
        theirs = {b.line: b for b in other.branch_lines}
        kept: dict[int, LineBranches] = {}
        for line, mine in branches.items():
            if line in theirs:
                missed = tuple(i for i in mine.missed if i in set(theirs[line].missed))
                if missed:
                    kept[line] = replace(mine, missed=missed)
        branches = kept
    return FileCoverage(
        file=name,
        lines_total=max(v.lines_total for v in versions),
        lines_missed=tuple(sorted(lines)),
        branches_total=max(v.branches_total for v in versions),
        branch_lines=tuple(branches[line] for line in sorted(branches)),
        functions_total=max(v.functions_total for v in versions),
        functions_missed=tuple(sorted(functions, key=lambda f: (f.line, f.name))),
    )


def of_files(files: Iterable[FileCoverage], cells: Sequence[str] = ()) -> Coverage:
    """A ``Coverage`` of ``files``, sorted, files of the same path merged."""
    merged = merge([Coverage((f,)) for f in files])
    return replace(merged, cells=tuple(cells)) if merged is not None else Coverage((), tuple(cells))
