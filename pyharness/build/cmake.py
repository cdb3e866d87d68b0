"""A variant's recipe for scikit-build-core: its flags as CMake definitions, one build tree.

scikit-build-core takes its settings from pip's ``-C`` options
(``-Ccmake.define.NAME=VALUE``, ``-Cbuild-dir=DIR``, ``-Ccmake.build-type=T``;
https://scikit-build-core.readthedocs.io/en/latest/configuration/). The
variant's ``CFLAGS``, ``CXXFLAGS`` and ``LDFLAGS`` (``pyharness.matrix``, the
same flags a setuptools build gets) become ``CMAKE_C_FLAGS``,
``CMAKE_CXX_FLAGS`` and the linker flags of modules and shared libraries
(``Python_add_library(... MODULE ...)`` links a module, pybind11 and nanobind
do too). Definitions rather than the environment: CMake reads ``CFLAGS`` only
when a build tree is first configured, and a changed recipe must reach a tree
that exists.

The build type is ``None``, as Debian configures CMake packages: CMake adds no
flags of its own for a type it does not know, so the variant's ``-O1`` is not
overridden by ``Release``'s ``-O3 -DNDEBUG`` appended after it. (A project whose
CMakeLists tests ``CMAKE_BUILD_TYPE`` can say otherwise with its own variant
recipe's ``CMAKE_BUILD_TYPE`` in ``env``.)

The build tree persists per variant (``-Cbuild-dir``), so an unchanged
project rebuilds incrementally: CMake re-checks its tree and the generator
(ninja when installed) finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path

from pyharness.matrix import Variant

BUILD_TYPE = "None"
# variant flag -> the CMake variables it sets
_DEFINES = {
    "CFLAGS": ("CMAKE_C_FLAGS",),
    "CXXFLAGS": ("CMAKE_CXX_FLAGS",),
    "LDFLAGS": ("CMAKE_MODULE_LINKER_FLAGS", "CMAKE_SHARED_LINKER_FLAGS"),
}


def settings(variant: Variant, build_dir: Path) -> tuple[list[str], dict[str, str]]:
    """pip's ``-C`` options building ``variant`` in ``build_dir`` with scikit-build-core, and
    the rest of the variant's ``env`` (not flags, not ``CMAKE_*``), for the build's environment."""
    flags = dict(variant.env_flags)
    build_type = flags.pop("CMAKE_BUILD_TYPE", BUILD_TYPE)
    out = [f"-Cbuild-dir={build_dir}", f"-Ccmake.build-type={build_type}"]
    for flag, names in _DEFINES.items():
        value = flags.pop(flag, "")
        out.extend(f"-Ccmake.define.{name}={value}" for name in names)
    # CMAKE_* entries of a project's own recipe are CMake variables; the rest is environment.
    out.extend(f"-Ccmake.define.{k}={v}" for k, v in sorted(flags.items()) if k.startswith("CMAKE_"))
    return out, {k: v for k, v in flags.items() if not k.startswith("CMAKE_")}
