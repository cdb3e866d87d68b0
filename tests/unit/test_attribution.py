"""Attribution (``pyharness.attribution``): which frame is the project's own code, by its policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pyharness import project
from pyharness.attribution import Policy, qualified_name
from pyharness.model import Finding, Frame, Trace

CHECKOUT = Path(__file__).resolve().parents[2]
# This repository's [tool.pyharness] policy, spelled out (test_policy_of_this_project checks it).
POLICY = Policy(
    root=CHECKOUT,
    sources=("csrc", "pyharness"),
    modules=("_netcore", "_canaries"),
    namespaces=("netcore::", "canaries::"),
)
CANARIES_SO = "/w/build/stage/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so"
LIBPYTHON = "/usr/lib/libpython3.11.so.1.0"
CANARY_SOURCE = "csrc/canaries/canaries_module.cpp"


def test_policy_of_this_project() -> None:
    assert Policy.of(project.load(CHECKOUT, search=False)) == POLICY
    built = Policy.of(project.load(CHECKOUT, search=False), ["libextra.so"])
    assert built.objects == frozenset({"libextra.so"})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../../csrc/canaries/canaries_module.cpp", CANARY_SOURCE),  # relative to the build directory
        ("csrc/core/reactor.cpp", "csrc/core/reactor.cpp"),
        # What Valgrind prints for a build under this checkout (<dir> is the build dir plus "../..").
        (f"{CHECKOUT}/build/relwithdebinfo/../../csrc/canaries/canaries_module.cpp", CANARY_SOURCE),
        (f"{CHECKOUT}/build-tools/plain/../../csrc/core/reactor.cpp", "csrc/core/reactor.cpp"),
        # Under the root as it is now, a deleted file is still the project's.
        (f"{CHECKOUT}/csrc/core/gone_since.cpp", "csrc/core/gone_since.cpp"),
        # Another checkout of the same tree: the suffix names a file of this one.
        ("/ci/other/checkout/csrc/core/reactor.cpp", "csrc/core/reactor.cpp"),
        ("/ci/other/checkout/csrc/core/not_in_this_tree.cpp", None),
        ("/ci/other/checkout/README.md", None),  # a file of the checkout, not in a source folder
        # Build trees and environments under the root are not source, though the suffix matches.
        (f"{CHECKOUT}/build/plain/stage/site/pyharness/model.py", None),
        (f"{CHECKOUT}/.venv/lib/python3.11/site-packages/pyharness/model.py", None),
        # Installed or vendored copies, wherever they are.
        ("/opt/venv/lib/python3.11/site-packages/pyharness/model.py", None),
        ("/src/app/subprojects/netcore/csrc/core/reactor.cpp", None),
        ("/usr/lib/python3.11/site-packages/pybind11/include/pybind11/cast.h", None),
        ("Objects/call.c", None),
        ("/w/site/pyharness/_canaries.cpython-311-x86_64-linux-gnu.so", None),  # an object, not source
        (None, None),
        ("", None),
    ],
)
def test_project_path(path: str | None, expected: str | None) -> None:
    assert POLICY.project_path(path) == expected


def test_project_path_away_from_the_checkout_goes_by_the_source_folders_names() -> None:
    # Reading a report where its checkout is not on disk: no file can be checked.
    away = Policy(root=Path("/no/such/checkout"), sources=("csrc",))
    assert away.project_path("/ci/work/build/../csrc/core/x.cpp") == "csrc/core/x.cpp"
    assert away.project_path("../../csrc/core/x.cpp") == "csrc/core/x.cpp"
    assert away.project_path("/ci/work/lib/core/x.cpp") is None
    assert away.project_path("/ci/work/subprojects/csrc/x.cpp") is None
    assert away.project_path("/ci/venv/lib/python3.11/site-packages/csrc/x.cpp") is None


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
    assert qualified_name(function) == name


def test_first_project_frame_from_the_top_wins_with_its_path_made_root_relative() -> None:
    stack = (
        Frame("__interceptor_malloc", "../../../../src/libsanitizer/asan/asan_malloc_linux.cpp", 69),
        Frame("canaries::leak(unsigned long)", "../../csrc/canaries/canaries_module.cpp", 39),
        Frame("netcore::reactor::run()", "../../csrc/core/reactor.cpp", 120),
        Frame(
            "pybind11::cpp_function::dispatcher(_object*)",
            "/x/include/pybind11/pybind11.h",
            1236,
            CANARIES_SO,
        ),
        Frame("_PyEval_EvalFrameDefault", "Python/ceval.c", 4769, LIBPYTHON),
    )
    frame = POLICY.project_frame(stack)
    assert frame == Frame("canaries::leak(unsigned long)", CANARY_SOURCE, 39)


def test_pybind11_internals_inlined_into_the_extension_are_foreign() -> None:
    stack = (
        Frame("PyLong_FromSsize_t", "Objects/longobject.c", 1164, LIBPYTHON),
        Frame(
            "pybind11::cpp_function::initialize<int (*&)()>", "/x/include/pybind11/cast.h", 323, CANARIES_SO
        ),
    )
    assert POLICY.project_frame(stack) is None


def test_frames_without_debug_info() -> None:
    # In the extension without a file: project unless it is a pybind11/std symbol.
    assert POLICY.is_project_frame(Frame("(anonymous namespace)::byte_view::byte_view", object=CANARIES_SO))
    assert not POLICY.is_project_frame(Frame("pybind11::cpp_function::dispatcher", object=CANARIES_SO))
    assert not POLICY.is_project_frame(Frame("std::vector<char>::_M_realloc_insert", object=CANARIES_SO))
    # Object unknown too: the namespace decides.
    assert POLICY.is_project_frame(Frame("netcore::reactor::loop()"))
    assert not POLICY.is_project_frame(Frame("PyObject_Malloc", object=LIBPYTHON))
    # A file decides over the object: a foreign header inlined into the extension stays foreign.
    assert not POLICY.is_project_frame(
        Frame("netcore::x()", "/usr/include/c++/12/bits/vector.tcc", 1, CANARIES_SO)
    )


def test_shared_objects_the_build_installed_are_the_projects() -> None:
    frame = Frame("helper_without_namespace", object="/w/site/pyharness/libnetcore_core.so.1")
    assert not POLICY.is_project_frame(frame)
    assert replace(POLICY, objects=frozenset({"libnetcore_core.so.1"})).is_project_frame(frame)


def test_module_init_is_foreign_for_leaks_only() -> None:
    init = Frame("pybind11_exec__canaries", "../../csrc/canaries/canaries_module.cpp", 113, CANARIES_SO)
    stack = (Frame("malloc"), init)
    assert POLICY.project_frame(stack, leak=True) is None
    assert POLICY.project_frame(stack, leak=False) is not None
    lam = Frame(
        "pybind11_init__netcore(pybind11::module_&)::{lambda(int)#1}::operator()(int) const",
        "../../csrc/bindings/netcore_module.cpp",
        177,
    )
    assert POLICY.project_frame((Frame("malloc"), lam), leak=True) is not None


def test_memory_glibc_keeps_for_threads_is_foreign() -> None:
    stack = (
        Frame("calloc"),
        Frame("allocate_stack", "./nptl/allocatestack.c", 423, "/lib/x86_64-linux-gnu/libc.so.6"),
        Frame("__pthread_create_2_1", "./nptl/pthread_create.c", 650),
        Frame("netcore::reactor::reactor()", "../../csrc/core/reactor.cpp", 36),
    )
    assert POLICY.project_frame(stack, leak=True) is None
    assert POLICY.project_frame(stack, leak=False) is not None


def test_attribute_marks_foreign_findings_suppressed() -> None:
    foreign = POLICY.attribute(
        Finding("asan", "leak.direct", "m", stack=(Frame("xmalloc", object="/bin/bash"),))
    )
    assert foreign.project_frame is None and foreign.suppressed and not foreign.counts
    ours = POLICY.attribute(
        Finding(
            "asan",
            "leak.direct",
            "m",
            stack=(Frame("canaries::leak(unsigned long)", "../../csrc/canaries/canaries_module.cpp", 1),),
        )
    )
    assert ours.counts and ours.project_frame is not None
    assert ours.project_frame.file == CANARY_SOURCE


def test_attribute_keeps_what_the_tool_suppressed() -> None:
    possibly_lost = Finding(
        "valgrind",
        "leak.possible",
        "m",
        stack=(Frame("netcore::reactor::reactor()", "../../csrc/core/reactor.cpp", 36),),
        suppressed=True,
    )
    attributed = POLICY.attribute(possibly_lost)
    assert attributed.project_frame is not None and attributed.suppressed and not attributed.counts


def test_related_traces_are_attributed_and_vouch_for_a_foreign_access() -> None:
    other = Frame("netcore::server::stop()", "../../csrc/core/reactor.cpp", 88)
    race = Finding(
        "tsan",
        "data-race",
        "Write of size 8 by thread T2",
        stack=(Frame("memcpy", object="/lib/x86_64-linux-gnu/libc.so.6"),),
        related=(
            Trace("Previous write of size 8 by thread T1", (Frame("__tsan_write8"), other)),
            Trace("Location is heap block allocated by main thread", (Frame("malloc"),)),
        ),
    )
    attributed = POLICY.attribute(race)
    assert [t.project_frame for t in attributed.related] == [
        replace(other, file="csrc/core/reactor.cpp"),
        None,
    ]
    assert attributed.project_frame == replace(other, file="csrc/core/reactor.cpp")
    assert attributed.counts
    # A leak is the allocator's caller's alone: another stack never makes it the project's.
    leak = replace(race, kind="leak.direct")
    assert not POLICY.attribute(leak).counts


def test_attribute_all_keeps_order_and_count() -> None:
    findings = (
        Finding("asan", "leak.direct", "a", stack=(Frame("xmalloc", object="/bin/bash"),)),
        Finding("asan", "leak.direct", "b", stack=(Frame("canaries::leak(unsigned long)"),)),
    )
    assert [(f.message, f.counts) for f in POLICY.attribute_all(findings)] == [("a", False), ("b", True)]


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
_PYTHON = Frame("run", "/w/site/pyharness/netcore/canary.py", 99)


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
    finding = POLICY.attribute(Finding("memray", "leak", "x", bytes=1, blocks=1, stack=stack))
    assert (finding.project_frame.where() if finding.project_frame else None) == where
    assert finding.counts == (where is not None)


def test_the_raw_allocation_rule_is_memrays_alone() -> None:
    # heaptrack sees the process end: a make_shared block it reports really was never freed.
    stack = (_NEW, _MAKE_SHARED, _REACTOR)
    assert POLICY.attribute(Finding("heaptrack", "leak", "x", stack=stack)).counts
    assert not POLICY.attribute(Finding("memray", "leak", "x", stack=stack)).counts
    # A memray peak is context: its project frame is the first from the top, Python frames included.
    peak = POLICY.attribute(Finding("memray", "peak", "x", stack=(_PY_UNICODE, _PYTHON), informational=True))
    assert peak.project_frame is not None and peak.project_frame.file == "pyharness/netcore/canary.py"
    assert not peak.counts


def test_what_glibc_keeps_from_an_address_lookup_is_its_own() -> None:
    # heaptrack, after the core's test suite: NSS state allocated under getaddrinfo, called by the core.
    stack = (
        Frame("__nss_action_allocate", "./nss/nss_action.c", 90),
        Frame("get_nss_addresses", "../sysdeps/posix/getaddrinfo.c", 611),
        Frame("__GI_getaddrinfo", "../sysdeps/posix/getaddrinfo.c", 2398),
        Frame("netcore::(anonymous namespace)::resolve", "../../csrc/core/socket_util.cpp", 35),
    )
    assert not POLICY.attribute(Finding("heaptrack", "leak", "x", bytes=288, stack=stack)).counts
    # The same caller leaking a block of its own still counts.
    resolve = Frame("netcore::(anonymous namespace)::resolve", "../../csrc/core/socket_util.cpp", 35)
    own = (Frame("malloc"), resolve)
    assert POLICY.attribute(Finding("heaptrack", "leak", "x", bytes=64, stack=own)).counts


def test_cython_sources_and_the_c_generated_from_them_are_the_projects(tmp_path: Path) -> None:
    for rel in ("cpkg/_cy.pyx", "cpkg/helper.c", "src/spkg/_s.pyx"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    policy = Policy(root=tmp_path, sources=(".",))
    src = Policy(root=tmp_path, sources=("src",))
    meson_c = "build/asan/meson/_cy.cpython-311-x86_64-linux-gnu.so.p/_cy.pyx.c"
    elsewhere = "/work/buildroots/p-1234/asan/meson/_s.cpython-311-x86_64-linux-gnu.so.p/_s.pyx.c"
    # #line directives: the .pyx relative to its package root, joined to the build directory.
    assert policy.project_path(f"{tmp_path}/build/asan/meson/cpkg/_cy.pyx") == "cpkg/_cy.pyx"
    assert src.project_path("/work/buildroots/p-1234/asan/meson/spkg/_s.pyx") == "src/spkg/_s.pyx"
    # No directives: the generated C, in a build tree under the project or anywhere else.
    assert policy.project_path(f"{tmp_path}/{meson_c}") == meson_c
    assert src.project_path(elsewhere) == elsewhere
    temp_c = "build/asan/setuptools/temp.linux-x86_64-cpython-311/cpkg/_cy.c"
    assert policy.project_path(f"{tmp_path}/{temp_c}") == temp_c
    # Not Cython's: a C file of a build tree, an installed package's generated C.
    assert policy.project_path(f"{tmp_path}/build/asan/meson/other.c") is None
    assert policy.project_path("/venv/lib/python3.11/site-packages/x/_cy.pyx.c") is None
    assert policy.project_path(f"{tmp_path}/cpkg/helper.c") == "cpkg/helper.c"


# CPython's tracemalloc records (captured in msgpack 1.2.4's suite, the field trial): the
# interpreter's own, even when a project's allocation ran the hook.
TRACEMALLOC = Path(__file__).resolve().parents[1] / "data" / "captures"
MSGPACK = Policy(root=None, sources=("msgpack",))


def test_tracemalloc_records_are_the_interpreters_under_valgrind() -> None:
    from pyharness.parsers import valgrind  # noqa: PLC0415

    parsed = valgrind.parse_files([TRACEMALLOC / "valgrind" / "tracemalloc_records" / "valgrind.xml"])
    findings = MSGPACK.attribute_all(parsed.findings)
    through = [f for f in findings if any("unpack_callback" in fr.function for fr in f.stack)]
    assert through, "some records pass through msgpack's unpack_callback_map"
    assert all(not f.counts and f.owner == "raw_malloc" for f in findings), [
        (f.kind, f.project_frame, f.owner) for f in findings
    ]


def test_a_cut_tracemalloc_stack_is_owned_not_unknowable() -> None:
    from pyharness.parsers import asan  # noqa: PLC0415

    (leak,) = asan.parse_files([TRACEMALLOC / "asan" / "tracemalloc_records" / "asan.log"]).findings
    attributed = MSGPACK.attribute(leak)
    assert leak.truncated and not attributed.counts and attributed.owner == "raw_malloc"  # _tracemalloc.c


SIMPLEJSON = Policy(root=None, sources=("simplejson",))


def test_an_uninitialised_value_cpython_made_is_the_interpreters_by_its_origin() -> None:
    """simplejson's first Py_INCREF of an int CPython's PyLong_FromString made (captured with
    --track-origins): reported in simplejson, created by the interpreter."""
    from pyharness.parsers import valgrind  # noqa: PLC0415

    capture = TRACEMALLOC / "valgrind" / "interpreter_taint" / "valgrind.xml"
    findings = valgrind.parse_files([capture]).findings
    assert findings and all(f.kind == "uninitialised-value" for f in findings)
    assert all(any(fr.file and "simplejson" in fr.file for fr in f.stack[:4]) for f in findings)
    attributed = SIMPLEJSON.attribute_all(findings)
    assert all(not f.counts and f.owner == "PyLong_FromString" for f in attributed)
    # Without its origin (memcheck's default), the same report is simplejson's: the re-run decides.
    bare = [replace(f, related=()) for f in findings]
    assert all(f.counts for f in SIMPLEJSON.attribute_all(bare))


def test_each_path_is_judged_once_per_policy_and_a_new_policy_looks_again(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    policy = Policy(root=tmp_path, sources=("src",))
    frame = Frame("f", "/build/../src/a.cpp", 3)
    assert not policy.is_project_frame(frame)  # no such file yet
    (tmp_path / "src" / "a.cpp").write_text("int f();\n")
    assert not policy.is_project_frame(frame)  # this policy's (this cell's) answer stands
    assert Policy(root=tmp_path, sources=("src",)).is_project_frame(frame)
    again = replace(policy, objects=frozenset({"x.so"}))
    assert again.project_path(frame.file) == "src/a.cpp" and again == replace(again)
