"""The import graph of the toolkit: no cycle between modules or packages, and the layers hold.

Every ``import`` and ``from ... import`` of a pyharness module is an edge,
wherever it sits (at the top, inside a function, under ``TYPE_CHECKING``): a
lazy import that only hides a cycle is still a cycle. Packages are the
first-level ones (``pyharness.render``, ``pyharness.cell``...); a plain
module (``pyharness.diff``) is a package of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pyharness"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    """Module -> the pyharness modules it imports."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in paths else node.module)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        edges[name] = {d for d in deps if d in paths and d != name}
    return edges


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_round_about() -> None:
    assert cycles(graph()) == []


def test_no_package_cycle() -> None:
    packages: dict[str, set[str]] = {}
    for module, deps in graph().items():
        packages.setdefault(package_of(module), set()).update(
            package_of(d) for d in deps if package_of(d) != package_of(module)
        )
    assert cycles(packages) == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    planted = {
        **graph(),
        "pyharness.model.cell": {"pyharness.render"},
        "pyharness.render": {"pyharness.model"},
    }
    assert cycles(planted), "a model -> render -> model loop must be found"


def test_the_model_and_the_renderers_stay_in_their_layers() -> None:
    edges = graph()
    model = {m: d for m, d in edges.items() if package_of(m) == "pyharness.model"}
    assert all(
        package_of(d) in ("pyharness.model", "pyharness.errors") for deps in model.values() for d in deps
    )
    render = {m: d for m, d in edges.items() if package_of(m) == "pyharness.render"}
    allowed = {"pyharness.render", "pyharness.model", "pyharness.errors", "pyharness.files", "pyharness.diff"}
    allowed |= {"pyharness"}  # __version__
    stray = {m: sorted(d for d in deps if package_of(d) not in allowed) for m, deps in render.items()}
    assert {m: d for m, d in stray.items() if d} == {}


# What a project's own modules may import of pyharness: the public API, and (for this
# repository, whose subject lives inside the package) the subject's own modules.
SUBJECT_OWN = frozenset({"pyharness", "pyharness._netcore", "pyharness._canaries", "pyharness._build_config"})


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "pyharness":
                found.update(f"pyharness.{a.name}" for a in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m == "pyharness" or m.startswith("pyharness.")}


def strays(folder: Path, own: str) -> dict[str, list[str]]:
    out = {}
    for path in sorted(folder.rglob("*.py")):
        bad = sorted(
            m
            for m in imports_of(path)
            if m != "pyharness.api" and not m.startswith(own) and m not in SUBJECT_OWN
        )
        if bad:
            out[str(path.relative_to(folder))] = bad
    return out


def test_the_first_subject_imports_only_the_public_api() -> None:
    assert strays(PACKAGE / "netcore", "pyharness.netcore") == {}


def test_the_api_check_catches_an_internal_import(tmp_path: Path) -> None:
    (tmp_path / "scenario.py").write_text(
        "from pyharness.cell.plan import plan\nfrom pyharness.api import Size\n"
        "def f():\n    from pyharness import proc\n"
    )
    assert strays(tmp_path, "mine") == {"scenario.py": ["pyharness.cell.plan", "pyharness.proc"]}


def test_the_toolkit_imports_nothing_of_the_subject() -> None:
    toolkit = {m: d for m, d in graph().items() if not m.startswith("pyharness.netcore")}
    assert {m: sorted(x for x in d if x.startswith("pyharness.netcore")) for m, d in toolkit.items()} == {
        m: [] for m in toolkit
    }


def test_the_second_examples_scenario_imports_only_the_public_api() -> None:
    examples = PACKAGE.parent / "examples" / "tally"
    assert (examples / "tally_workloads.py").is_file()
    assert strays(examples, "tally") == {}
