"""Attribution: which frame of a stack is the project's own code, by the project's policy.

Parsers return findings as the tools reported them; ``attribute`` is applied
once per cell, with the ``Policy`` of the project under test
(``[tool.pyharness]`` ``sources``, ``modules``, ``namespaces``; see
``pyharness.project``). A finding counts against the project only when some
frame of one of its stacks is the project's code. The stacks are tried in the
tool's order: the report's own (the access, the leak's allocation), then each
related one (where the block was freed, where it was allocated, a race's other
access); in the first that reaches the project, the first project frame from
the top is the one reported (for a leak that is the function that called the
allocator, for an invalid read the function that read), and ``Finding.via``
names the related stack when it was not the first. Everything else is *foreign*: the
interpreter, libc, libstdc++, pybind11's headers (even when inlined into the
extension) and the tools' runtimes. A foreign-only finding keeps
``project_frame=None``: it stays visible in the report but does not fail a cell.

A frame is the project's when

- its source file lies under one of the project's source folders (tools print
  paths relative to the build directory, ``../../csrc/core/x.cpp``, or absolute
  from wherever the build ran; both are reduced to the repository-relative
  ``csrc/core/x.cpp``), and not under a virtual environment, a build tree or a
  vendored dependency (``FOREIGN_PARTS``); or
- it has no source file but lives in one of the project's extension objects
  (a configured module name, or a shared object the project's build installed)
  and is not a pybind11 or standard-library symbol; or
- it has neither, and its function is in one of the project's C++ namespaces.

Coverage is attributed by the same rule for paths: of the files the coverage
tool reports, only those under the project's source folders are its own.

For leaks, the body of a module's init function (``pybind11_init_<mod>``,
pybind11 3's ``pybind11_exec_<mod>``, ``PyInit_<mod>``) is foreign too: what
it allocates (function records, registered types) lives as long as the
interpreter, and heaptrack reports it as "leaked" at exit. So is memory that
glibc allocates inside ``pthread_create`` (thread stacks and TLS it caches
after a join and never frees): heaptrack reported it under a reactor's
constructor for a server that was stopped and joined; and so is what glibc's
resolver and NSS allocate inside ``getaddrinfo`` (their configuration, loaded
once and kept for the process). Lambdas defined inside
a module's init body run later and stay the project's.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyharness.model import Coverage, Finding, Frame, Trace
from pyharness.model.coverage import of_files

FOREIGN_NAMESPACES = ("pybind11::", "std::", "__gnu_cxx::", "__cxxabiv1::")
# Allocations made inside these belong to the C runtime, which keeps them for reuse: thread
# stacks and TLS cached after a join; the resolver's and NSS's state that getaddrinfo loads
# once (nsswitch.conf, resolv.conf) and keeps for the process (heaptrack listed 7 such blocks,
# under the core's address lookup, after the test suite).
#
# And to the interpreter: what tracemalloc allocates inside its allocator hook is its own record
# of a block (a traceback per trace), made under whatever allocation it traces. In msgpack's
# suite, which starts and stops tracemalloc, memcheck listed those records as definitely lost
# with msgpack's unpack_callback_map (PyList_New) below the hook, and LSan gave them 3-frame
# stacks ending in the hook.
RUNTIME_OWNERS = frozenset(
    {"pthread_create", "__pthread_create_2_1", "allocate_stack", "_dl_allocate_tls",
     "getaddrinfo", "__GI_getaddrinfo", "getnameinfo", "gethostbyname_r", "__res_vinit", "__res_ninit",
     "traceback_new", "tracemalloc_add_trace", "tracemalloc_alloc", "tracemalloc_alloc_gil",
     "tracemalloc_malloc_gil", "tracemalloc_calloc_gil", "tracemalloc_realloc_gil", "tracemalloc_realloc",
     "tracemalloc_raw_alloc", "tracemalloc_raw_malloc", "tracemalloc_raw_calloc", "tracemalloc_raw_realloc"}
)  # fmt: skip
# Uninitialised values that CPython's own constructors make and compute pointers from, so that a
# pointer they return is "uninitialised" to memcheck wherever it is first dereferenced: memcheck's
# origin (--track-origins) names the constructor below the allocator. Measured: PyLong_FromString
# (CPython 3.11) taints the ints it returns; in simplejson's suite 208,098 reports at simplejson's
# first Py_INCREF of an int it had asked int() for; in pure Python the same report, in libpython.
INTERPRETER_TAINTS = frozenset({"PyLong_FromString"})
_ALLOCATORS = ("malloc", "calloc", "realloc", "PyMem_", "PyObject_Malloc", "PyObject_Calloc",
               "PyObject_Realloc", "_PyObject_", "_PyMem_", "_PyLong_New")  # fmt: skip
_ORIGIN = "Uninitialised value was created"
# Files whose frames are runtime owners whatever the function (static helpers inlined or renamed).
RUNTIME_OWNER_FILES = ("Modules/_tracemalloc.c",)
# Tools whose "leak" means "still allocated when tracking stopped" (see the module docstring).
TRACKING_STOPPED_TOOLS = frozenset({"memray"})
_OPERATOR_NEW = ("operator new(", "operator new[](")
_PYTHON_SOURCE_SUFFIXES = (".py", ".pyw")
# Folders that are never the project's own code, wherever they appear in a path:
# installed packages, meson's vendored subprojects, environments and build trees.
FOREIGN_PARTS = frozenset({"site-packages", "dist-packages", "subprojects", "node_modules"})
# ... and these only as the first folder under the project root.
FOREIGN_TOP = frozenset({"build", ".nox", ".venv", "venv", ".tox", ".git", "reports"})
CYTHON_SUFFIXES = (".pyx", ".pxd", ".pxi")
# C that Cython wrote: meson's "_mod.pyx.c", setuptools' "_mod.c" (C++: .cpp, .cc).
_GENERATED_C = re.compile(r"^(.+?)\.(?:c|cpp|cc|cxx)$")
_SHARED_OBJECT = re.compile(r"\.so(?:\.[\d.]+)?(?::\d+)?$")
_MODULE_INIT = re.compile(r"^(?:pybind11_init_|pybind11_exec_|PyInit_)\w+$")


@dataclass(frozen=True)
class Policy:
    """The project's rule for "own code". Build one with ``Policy.of(project)``."""

    root: Path | None = None  # the project root; None: judge paths by name only
    sources: tuple[str, ...] = (".",)  # root-relative folders ("." is the whole root)
    modules: tuple[str, ...] = ()  # extension module names ("_netcore" or "pyharness._netcore")
    namespaces: tuple[str, ...] = ()  # C++ namespaces, with their trailing "::"
    # Basenames of the shared objects the project's build installed (filled in after a build).
    objects: frozenset[str] = field(default_factory=frozenset)
    # project_path's answers, per path: a cell's findings repeat the same frames thousands of
    # times (a memray canary cell: 11,000 findings, 716,000 frame checks, 687,000 stat calls).
    # One policy serves one cell, whose sources do not change while it is judged.
    _paths: dict[str | None, str | None] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    @classmethod
    def of(cls, project: object, objects: Iterable[str] = ()) -> Policy:
        """The policy of a ``pyharness.project.Project`` (typed loosely: no import cycle)."""
        attribution = project.attribution  # type: ignore[attr-defined]
        return cls(
            root=project.root,  # type: ignore[attr-defined]
            sources=attribution.sources,
            modules=attribution.modules,
            namespaces=attribution.namespaces,
            objects=frozenset(objects),
        )

    # -- paths --------------------------------------------------------------------

    def project_path(self, path: str | None) -> str | None:
        """The root-relative form of a path in the project's own sources, else None.

        ``../../csrc/core/x.cpp`` and ``/elsewhere/checkout/csrc/core/x.cpp`` both give
        ``csrc/core/x.cpp``, whatever build directory or checkout the tool saw them from.
        """
        try:
            return self._paths[path]
        except KeyError:
            found = self._paths[path] = self._project_path(path)
            return found

    def _project_path(self, path: str | None) -> str | None:
        if not path or _SHARED_OBJECT.search(path):
            return None  # a tool that could not symbolize may print the object where the file goes
        # Resolve "dir/.." as the compiler wrote it (DWARF keeps "/ckout/build/x/../../csrc/a.cpp");
        # the leading ".." of a build-relative path cannot be resolved and is dropped.
        posix = posixpath.normpath(path.replace("\\", "/"))
        parts = [p for p in posix.split("/") if p not in ("", ".", "..")]
        if not parts:
            return None
        if parts[-1].endswith(CYTHON_SUFFIXES) or _GENERATED_C.match(parts[-1]):
            cython = self._cython_path(parts, posix)
            if cython is not None:
                return cython
        root_parts = self.root.parts[1:] if self.root is not None else ()
        # Under this root as it is now: the rest of the path is the candidate.
        if posix.startswith("/") and root_parts and tuple(parts[: len(root_parts)]) == root_parts:
            return self._own(parts[len(root_parts) :], exists_only=False)
        if any(p in FOREIGN_PARTS for p in parts):
            return None  # an installed or vendored copy, whatever suffix of it matches
        # Otherwise the longest suffix that names a file of the project (or, reading a
        # report away from its checkout, a named source folder).
        for i in range(len(parts)):
            found = self._own(parts[i:], exists_only=True)
            if found is not None:
                return found
        if self.root is None or not self.root.is_dir():
            for i in range(len(parts)):
                found = self._own(parts[i:], exists_only=False, named_only=True)
                if found is not None:
                    return found
        return None

    def _own(self, rel: Sequence[str], *, exists_only: bool, named_only: bool = False) -> str | None:
        if not rel or rel[0] in FOREIGN_TOP or any(p in FOREIGN_PARTS for p in rel):
            return None
        text = "/".join(rel)
        in_sources = False
        for source in self.sources:
            if source == ".":
                in_sources = in_sources or not named_only
            elif text == source or text.startswith(source + "/"):
                in_sources = True
        if not in_sources:
            return None
        if exists_only and (self.root is None or not (self.root / text).is_file()):
            return None
        return text

    def _suffix_file(self, parts: Sequence[str]) -> str | None:
        """The project file some suffix of ``parts`` names (also under a named source folder)."""
        prefixes = [[], *(s.split("/") for s in self.sources if s != ".")]
        for i in range(len(parts)):
            for prefix in prefixes:
                found = self._own([*prefix, *parts[i:]], exists_only=True)
                if found is not None:
                    return found
        return None

    def _cython_path(self, parts: Sequence[str], posix: str) -> str | None:
        """A Cython source of the project, or C that Cython generated from one, wherever it is.

        Cython's ``#line`` directives name the ``.pyx`` relative to its package's root
        (``pkg/_mod.pyx``), which the debug info joins to the build directory: that file
        is the project's. Without them the frames are in the generated C, written in a
        build tree (meson's ``<target>.p/_mod.pyx.c``, setuptools' build_temp with
        ``cython_c_in_temp``) that is never source otherwise: it is the project's when the
        ``.pyx`` it came from is (by the path's suffix, else by a unique file name).
        """
        if any(p in FOREIGN_PARTS for p in parts) or self.root is None:
            return None
        name = parts[-1]
        if name.endswith(CYTHON_SUFFIXES):
            return self._suffix_file(parts)
        match = _GENERATED_C.match(name)
        sources = _cython_sources(self.root)
        if match is None or not sources:
            return None  # not a Cython project: C is judged as any C
        stem = match.group(1)
        pyx = stem if stem.endswith(".pyx") else stem + ".pyx"
        source = self._suffix_file([*parts[:-1], pyx])
        if source is None:
            named = [p for p in sources if p.rsplit("/", 1)[-1] == pyx]
            source = named[0] if len(named) == 1 else None
        if source is None:
            return None
        root = str(self.root).rstrip("/") + "/"
        return posix[len(root) :] if posix.startswith(root) else posix

    def normalise_path(self, path: str | None) -> str | None:
        """A project path made root-relative; any other path unchanged."""
        return self.project_path(path) or path

    # -- frames -------------------------------------------------------------------

    def in_project_object(self, obj: str | None) -> bool:
        if not obj:
            return False
        name = obj.rsplit("/", 1)[-1]
        if name in self.objects:
            return True
        return any(name.startswith(m.rsplit(".", 1)[-1] + ".") for m in self.modules)

    def is_project_frame(self, frame: Frame, *, leak: bool = False) -> bool:
        """True when ``frame`` is the project's own code (see the module docstring)."""
        if leak and _is_module_init(frame.function):
            return False
        name = qualified_name(frame.function)
        if frame.file:
            return self.project_path(frame.file) is not None
        if self.in_project_object(frame.object):
            return not name.startswith(FOREIGN_NAMESPACES)
        return bool(self.namespaces) and name.startswith(tuple(self.namespaces))

    def project_frame(self, stack: Sequence[Frame], *, leak: bool = False) -> Frame | None:
        """The first project frame from the top, with its file made root-relative."""
        for frame in stack:
            if leak and runtime_owner(frame) is not None:
                return None
            if self.is_project_frame(frame, leak=leak):
                return replace(frame, file=self.normalise_path(frame.file))
        return None

    def raw_allocation_frame(self, stack: Sequence[Frame]) -> Frame | None:
        """The allocator's direct caller (past ``operator new``) when it is native project code."""
        for frame in stack:
            if frame.function.startswith(_OPERATOR_NEW):
                continue
            if not is_python_frame(frame) and self.is_project_frame(frame, leak=True):
                return replace(frame, file=self.normalise_path(frame.file))
            return None
        return None

    # -- findings -----------------------------------------------------------------

    def attribute(self, finding: Finding) -> Finding:
        """``finding`` with its project frame set (and each related trace's); a finding
        with none anywhere is kept but marked suppressed."""
        leak = finding.kind.startswith("leak")
        if (taint := self._tainted_by_the_interpreter(finding)) is not None:
            return replace(finding, project_frame=None, suppressed=True, owner=taint)
        related = tuple(
            replace(t, project_frame=self.project_frame(t.stack, leak=leak)) for t in finding.related
        )
        if leak and finding.tool in TRACKING_STOPPED_TOOLS:
            frame = self.raw_allocation_frame(finding.stack)
        else:
            frame = self.project_frame(finding.stack, leak=leak)
        via = None
        if frame is None and not leak:
            # Every stack of the report counts: a use after free whose access is the
            # interpreter's (a later comparison) is the project's when the block was freed
            # there; a data race whose current access is in foreign code is the project's
            # when its other access is. A leak's allocation stack is its only one.
            reached = next((t for t in related if t.project_frame is not None), None)
            if reached is not None:
                frame, via = reached.project_frame, reached.label
        return replace(
            finding,
            project_frame=frame,
            related=related,
            via=via,
            suppressed=finding.suppressed or frame is None,
            owner=self.owner(finding.stack) if leak and frame is None else None,
        )

    def _tainted_by_the_interpreter(self, finding: Finding) -> str | None:
        """The interpreter's constructor that made an uninitialised value, per memcheck's origin."""
        if not finding.kind.startswith("uninitialised"):
            return None
        origin = next((t for t in finding.related if t.label.startswith(_ORIGIN)), None)
        if origin is None:
            return None
        for frame in origin.stack:
            name = qualified_name(frame.function)
            if name.startswith(_ALLOCATORS):
                continue
            return name if name in INTERPRETER_TAINTS else None
        return None

    def owner(self, stack: Sequence[Frame]) -> str | None:
        """The runtime that owns a leak's block: the first owner frame above any project frame."""
        for frame in stack:
            if (found := runtime_owner(frame)) is not None:
                return found
            if self.is_project_frame(frame, leak=True):
                return None
        return None

    def attribute_all(self, findings: Iterable[Finding]) -> tuple[Finding, ...]:
        return tuple(self.attribute(f) for f in findings)

    def attribute_coverage(self, coverage: Coverage, cell: str = "") -> Coverage:
        """The project's own files of ``coverage``, their paths root-relative: another
        library's headers (pybind11's, the standard library's) are not the project's,
        even though their code was compiled into its objects."""
        own = [replace(f, file=path) for f in coverage.files if (path := self.project_path(f.file))]
        return of_files(own, (cell,) if cell else coverage.cells)


@functools.lru_cache(maxsize=8)
def _cython_sources(root: Path) -> tuple[str, ...]:
    """The project's ``.pyx`` files, root-relative (build trees and environments left out)."""
    out: list[str] = []
    for directory, dirs, files in os.walk(root):
        top = Path(directory) == root
        dirs[:] = [d for d in dirs if d not in FOREIGN_PARTS and not (top and d in FOREIGN_TOP)]
        rel = os.path.relpath(directory, root)
        out.extend(posixpath.normpath(posixpath.join(rel, f)) for f in files if f.endswith(".pyx"))
    return tuple(sorted(out))


def runtime_owner(frame: Frame) -> str | None:
    """The frame's function when it is a runtime owner (``RUNTIME_OWNERS``, ``RUNTIME_OWNER_FILES``)."""
    name = qualified_name(frame.function)
    if name in RUNTIME_OWNERS:
        return name
    file = (frame.file or "").replace("\\", "/")
    return name if file.endswith(RUNTIME_OWNER_FILES) else None


@functools.lru_cache(maxsize=1 << 16)
def qualified_name(function: str) -> str:
    """The function's qualified name without return type or parameters.

    ``void pybind11::detail::f<void (int)>(long)`` -> ``pybind11::detail::f<void (int)>``.
    """
    depth = 0
    end = len(function)
    for i, ch in enumerate(function):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        elif ch == "(" and depth == 0 and not function.startswith("operator", max(i - 8, 0)):
            end = i
            break
    head = function[:end]
    # The name is the last space-separated token outside template brackets.
    depth = 0
    start = 0
    for i, ch in enumerate(head):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        elif ch == " " and depth == 0:
            start = i + 1
    return head[start:].strip()


def is_python_frame(frame: Frame) -> bool:
    """True for an interpreted Python frame (its file a ``.py`` source, ``<string>``, ``<frozen x>``)."""
    file = frame.file or ""
    return file.endswith(_PYTHON_SOURCE_SUFFIXES) or (file.startswith("<") and file.endswith(">"))


def _is_module_init(function: str) -> bool:
    return "{lambda" not in function and bool(_MODULE_INIT.match(qualified_name(function)))


__all__ = ["FOREIGN_NAMESPACES", "RUNTIME_OWNERS", "Policy", "Trace", "qualified_name"]
