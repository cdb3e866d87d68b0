"""Attribution: which frame of a stack is the project's own code, if any.

A finding counts against the project only when some frame of its stack is the
project's code; the first such frame from the top is the one reported (for a
leak that is the function that called the allocator, for an invalid read the
function that read). Everything else is *foreign*: the interpreter (libpython),
libc, libstdc++, pybind11's headers (even when inlined into ``_netcore``) and
the sanitizer runtime. A foreign-only finding keeps ``project_frame=None``: it
stays visible in the report but does not fail a cell.

A frame is the project's when

- its source file lies under ``csrc/`` or the ``pyharness`` package (paths are
  normalised to repository-relative form, whatever build directory the tool
  saw them from), or
- it has no source file but lives in one of the project's extension objects
  (``_netcore.*.so``, ``_canaries.*.so``) and is not a pybind11/std symbol, or
- it has neither, and its function is in the ``netcore::`` or ``canaries::``
  namespace.

For leaks, the body of a module's init function (``pybind11_init__netcore``,
pybind11 3's ``pybind11_exec__canaries``, ``PyInit_*``) is foreign too: what
it allocates (function records, registered types) lives as long as the
interpreter, and heaptrack reports it as "leaked" at exit. So is memory that
glibc allocates inside ``pthread_create`` (thread stacks and TLS it caches
after a join and never frees): heaptrack reported it under
``netcore::reactor::reactor()`` for a server that was stopped and joined.
Lambdas defined inside a module's init body run later and stay the project's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from pyharness.model import Finding, Frame

PROJECT_DIRS = ("csrc", "pyharness")
PROJECT_OBJECT_PREFIXES = ("_netcore.", "_canaries.")
PROJECT_NAMESPACES = ("netcore::", "canaries::")
FOREIGN_NAMESPACES = ("pybind11::", "std::", "__gnu_cxx::", "__cxxabiv1::")
# Allocations made inside these belong to the C runtime, which keeps them for reuse.
RUNTIME_OWNERS = frozenset({"pthread_create", "__pthread_create_2_1", "allocate_stack", "_dl_allocate_tls"})
_SHARED_OBJECT = re.compile(r"\.so(?:\.[\d.]+)?(?::\d+)?$")
_MODULE_INIT = re.compile(r"^(?:pybind11_init_|pybind11_exec_|PyInit_)\w+$")
# Header directories that may sit under a project-looking path (a virtualenv
# inside the checkout, pybind11 vendored in a build tree): never project code.
_FOREIGN_PATH_PARTS = ("site-packages", "dist-packages", "subprojects", "include")


def project_path(path: str | None) -> str | None:
    """The repository-relative form of a path under the project, else None.

    ``../../csrc/core/x.cpp`` and ``/work/main/build/../csrc/core/x.cpp`` both give
    ``csrc/core/x.cpp``, whatever build directory the tool saw them from.
    """
    if not path or _SHARED_OBJECT.search(path):
        return None  # a tool that could not symbolize may print the object where the file goes
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] in PROJECT_DIRS:
            if any(p in _FOREIGN_PATH_PARTS for p in parts[:i]):
                return None
            return "/".join(parts[i:])
    return None


def normalise_path(path: str | None) -> str | None:
    """A project path made repository-relative; any other path unchanged."""
    return project_path(path) or path


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


def _is_module_init(function: str) -> bool:
    return "{lambda" not in function and bool(_MODULE_INIT.match(qualified_name(function)))


def _in_project_object(obj: str | None) -> bool:
    return bool(obj) and obj.rsplit("/", 1)[-1].startswith(PROJECT_OBJECT_PREFIXES)  # type: ignore[union-attr]


def is_project_frame(frame: Frame, *, leak: bool = False) -> bool:
    """True when ``frame`` is the project's own code (see the module docstring)."""
    if leak and _is_module_init(frame.function):
        return False
    name = qualified_name(frame.function)
    if frame.file:
        return project_path(frame.file) is not None
    if _in_project_object(frame.object):
        return not name.startswith(FOREIGN_NAMESPACES)
    return name.startswith(PROJECT_NAMESPACES)


def project_frame(stack: Sequence[Frame], *, leak: bool = False) -> Frame | None:
    """The first project frame from the top, with its file made repository-relative."""
    for frame in stack:
        if leak and qualified_name(frame.function) in RUNTIME_OWNERS:
            return None
        if is_project_frame(frame, leak=leak):
            return replace(frame, file=normalise_path(frame.file))
    return None


def attribute(finding: Finding) -> Finding:
    """``finding`` with its project frame set; a foreign-only finding is kept but marked suppressed.

    Each related trace (a data race's other access) gets its own project frame. When the
    finding's own stack has none, the first related trace's stands in: a race between the
    interpreter and the project's reactor thread is still the project's race.
    """
    leak = finding.kind.startswith("leak")
    related = tuple(replace(t, project_frame=project_frame(t.stack, leak=leak)) for t in finding.related)
    frame = project_frame(finding.stack, leak=leak)
    if frame is None and related:
        frame = related[0].project_frame
    return replace(
        finding, project_frame=frame, related=related, suppressed=finding.suppressed or frame is None
    )


def attribute_all(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(attribute(f) for f in findings)
