"""Attribution: which frame is the project's own code."""

from __future__ import annotations

import pytest

from pyharness.model import Finding, Frame
from pyharness.parsers import attribution

CANARIES_SO = "/w/build/stage/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so"
LIBPYTHON = "/usr/lib/libpython3.11.so.1.0"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../../csrc/canaries/canaries_module.cpp", "csrc/canaries/canaries_module.cpp"),
        ("/work/main/build-tools/relwithdebinfo/../../csrc/core/reactor.cpp", "csrc/core/reactor.cpp"),
        ("csrc/core/reactor.cpp", "csrc/core/reactor.cpp"),
        ("/usr/lib/python3.11/site-packages/pybind11/include/pybind11/cast.h", None),
        ("/venv/lib/python3.11/site-packages/pyharness/csrc/x.cpp", None),  # an installed copy is not source
        ("Objects/call.c", None),
        ("/w/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so", None),  # an object, not a source file
        (None, None),
    ],
)
def test_project_path(path: str | None, expected: str | None) -> None:
    assert attribution.project_path(path) == expected


@pytest.mark.parametrize(
    ("function", "name"),
    [
        ("canaries::leak(unsigned long)", "canaries::leak"),
        (
            "void pybind11::detail::function_ref<void (long)>::callback_fn<void (*)(long)>(long)",
            "pybind11::detail::function_ref<void (long)>::callback_fn<void (*)(long)>",
        ),
        (
            "std::enable_if<true, int>::type pybind11::detail::argument_loader<>::call<>() &&",
            "pybind11::detail::argument_loader<>::call<>",
        ),
        ("netcore::frame_decoder::operator()(char const*)", "netcore::frame_decoder::operator()"),
        ("pybind11_init__netcore(pybind11::module_&)", "pybind11_init__netcore"),
        ("malloc", "malloc"),
    ],
)
def test_qualified_name(function: str, name: str) -> None:
    assert attribution.qualified_name(function) == name


def test_first_project_frame_from_the_top_wins() -> None:
    stack = (
        Frame("__interceptor_malloc", "../../../../src/libsanitizer/asan/asan_malloc_linux.cpp", 69),
        Frame("canaries::leak(unsigned long)", "../../csrc/canaries/canaries_module.cpp", 39),
        Frame(
            "pybind11::cpp_function::dispatcher(_object*)",
            "/x/include/pybind11/pybind11.h",
            1236,
            CANARIES_SO,
        ),
        Frame("_PyEval_EvalFrameDefault", "Python/ceval.c", 4769, LIBPYTHON),
    )
    frame = attribution.project_frame(stack)
    assert frame == Frame("canaries::leak(unsigned long)", "csrc/canaries/canaries_module.cpp", 39)


def test_pybind11_internals_inlined_into_the_extension_are_foreign() -> None:
    stack = (
        Frame("PyLong_FromSsize_t", "Objects/longobject.c", 1164, LIBPYTHON),
        Frame(
            "pybind11::cpp_function::initialize<int (*&)()>", "/x/include/pybind11/cast.h", 323, CANARIES_SO
        ),
    )
    assert attribution.project_frame(stack) is None


def test_frames_without_debug_info() -> None:
    # In the extension without a file: project unless it is a pybind11/std symbol.
    assert attribution.is_project_frame(
        Frame("(anonymous namespace)::byte_view::byte_view", object=CANARIES_SO)
    )
    assert not attribution.is_project_frame(Frame("pybind11::cpp_function::dispatcher", object=CANARIES_SO))
    # Object unknown too: the namespace decides.
    assert attribution.is_project_frame(Frame("netcore::reactor::loop()"))
    assert not attribution.is_project_frame(Frame("PyObject_Malloc", object=LIBPYTHON))


def test_module_init_is_foreign_for_leaks_only() -> None:
    init = Frame("pybind11_exec__canaries", "../../csrc/canaries/canaries_module.cpp", 113, CANARIES_SO)
    stack = (Frame("malloc"), init)
    assert attribution.project_frame(stack, leak=True) is None
    assert attribution.project_frame(stack, leak=False) is not None
    lam = Frame(
        "pybind11_init__netcore(pybind11::module_&)::{lambda(int)#1}::operator()(int) const",
        "../../csrc/bindings/netcore_module.cpp",
        177,
    )
    assert attribution.project_frame((Frame("malloc"), lam), leak=True) is not None


def test_memory_glibc_keeps_for_threads_is_foreign() -> None:
    stack = (
        Frame("calloc"),
        Frame("allocate_stack", "./nptl/allocatestack.c", 423, "/lib/x86_64-linux-gnu/libc.so.6"),
        Frame("__pthread_create_2_1", "./nptl/pthread_create.c", 650),
        Frame("netcore::reactor::reactor()", "../../csrc/core/reactor.cpp", 36),
    )
    assert attribution.project_frame(stack, leak=True) is None


def test_attribute_marks_foreign_findings_suppressed() -> None:
    foreign = attribution.attribute(
        Finding("asan", "leak.direct", "m", stack=(Frame("xmalloc", object="/bin/bash"),))
    )
    assert foreign.project_frame is None and foreign.suppressed and not foreign.counts
    ours = attribution.attribute(
        Finding(
            "asan",
            "leak.direct",
            "m",
            stack=(Frame("canaries::leak(unsigned long)", "csrc/canaries/c.cpp", 1),),
        )
    )
    assert ours.counts and ours.project_frame is not None


# memray's leaks are blocks still allocated when its tracker stopped: only raw allocations count.
_CANARY = Frame("canaries::leak(unsigned long)", "../../csrc/canaries/canaries_module.cpp", 39)
_REACTOR = Frame("netcore::shared_client_reactor()", "../../csrc/core/messaging_client.cpp", 46)
_MAKE_SHARED = Frame(
    "std::shared_ptr<netcore::reactor> std::make_shared<netcore::reactor>()",
    "/usr/include/c++/12/bits/shared_ptr.h",
    1010,
)
_NEW = Frame("operator new(unsigned long)")
_PY_UNICODE = Frame("PyUnicode_New", "Objects/unicodeobject.c", 1425)
_BINDING = Frame("netcore_module_stats", "../../csrc/bindings/netcore_module.cpp", 82)
_PYTHON = Frame("run", "/w/site/pyharness/workloads/canary.py", 99)


@pytest.mark.parametrize(
    ("stack", "where"),
    [
        ((_CANARY, _PYTHON), "csrc/canaries/canaries_module.cpp:39"),  # malloc called by the project
        ((_NEW, _REACTOR, _PYTHON), "csrc/core/messaging_client.cpp:46"),  # a raw `new` in the project
        ((_NEW, _MAKE_SHARED, _REACTOR, _PYTHON), None),  # owned by a shared_ptr: live at tracking stop
        ((_PY_UNICODE, _BINDING, _PYTHON), None),  # a Python object the interpreter made (and interned)
        ((_PYTHON, _CANARY), None),  # made by the interpreter for Python code
        ((Frame("_PyObject_ArenaMmap", "Objects/obmalloc.c", 1), _BINDING), None),  # a pymalloc arena
        ((), None),
    ],
)
def test_memray_leaks_count_only_raw_allocations(stack: tuple[Frame, ...], where: str | None) -> None:
    finding = attribution.attribute(Finding("memray", "leak", "x", bytes=1, blocks=1, stack=stack))
    assert (finding.project_frame.where() if finding.project_frame else None) == where
    assert finding.counts == (where is not None)


def test_the_raw_allocation_rule_is_memrays_alone() -> None:
    # heaptrack sees the process end: a make_shared block it reports really was never freed.
    stack = (_NEW, _MAKE_SHARED, _REACTOR)
    assert attribution.attribute(Finding("heaptrack", "leak", "x", stack=stack)).counts
    assert not attribution.attribute(Finding("memray", "leak", "x", stack=stack)).counts
    # A memray peak is context: its project frame is the first from the top, Python frames included.
    peak = attribution.attribute(
        Finding("memray", "peak", "x", stack=(_PY_UNICODE, _PYTHON), informational=True)
    )
    assert peak.project_frame is not None and peak.project_frame.file == "pyharness/workloads/canary.py"
    assert not peak.counts
