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
