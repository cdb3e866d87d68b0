"""Small C helpers pyharness compiles for itself, once, with the machine's C compiler.

Some things a tool offers only to compiled code: Valgrind's client requests
(a leak check after each test, a marker in memcheck's output) are machine
instructions, and an allocation shim must interpose ``malloc`` itself. Each
helper is one C file beside this module (``<name>.c``, installed with the
package); ``helper(name)`` compiles it into a shared object under the cache
(``$PYHARNESS_CACHE``, else ``$XDG_CACHE_HOME/pyharness``, else
``~/.cache/pyharness``), named by a digest of its source, flags and compiler, so
an edit or a new compiler builds it afresh and nothing else does. The build
goes through the gateway; a missing compiler is a ``ToolMissingError`` with the
install command, a failed build a ``BuildError`` with the compiler's message.
Concurrent callers are serialised by a lock file and the result appears
atomically (a rename).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from pyharness import proc
from pyharness.errors import BuildError, ToolMissingError

SOURCES = Path(__file__).resolve().parent
CACHE_ENV = "PYHARNESS_CACHE"
COMPILERS = ("cc", "gcc", "clang")
INSTALL_HINT = "apt-get install gcc (a C compiler, for pyharness's own small helpers)"
BUILD_TIMEOUT_S = 120.0


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyharness"


def compiler() -> str:
    for name in COMPILERS:
        path = shutil.which(name)
        if path is not None:
            return path
    raise ToolMissingError("a C compiler", INSTALL_HINT)


def helper(name: str, *, cflags: Sequence[str] = (), libs: Sequence[str] = ()) -> Path:
    """The shared object built from ``<name>.c`` (compiled on first use; see the module docstring)."""
    source = SOURCES / f"{name}.c"
    if not source.is_file():
        raise BuildError(f"pyharness has no native helper {name!r} ({source} is missing)")
    cc = compiler()
    flags = ["-shared", "-fPIC", "-O2", "-g", "-Wall", "-Werror", *cflags]
    digest = hashlib.sha256(
        b"\0".join(
            [source.read_bytes(), os.path.realpath(cc).encode(), *(f.encode() for f in (*flags, *libs))]
        )
    ).hexdigest()[:16]
    folder = cache_dir()
    target = folder / f"{name}-{digest}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target  # another process built it meanwhile
        tmp = folder / f".{target.name}.{os.getpid()}.tmp"
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # never a sanitizer in the compiler
        spec = proc.LaunchSpec(
            (cc, *flags, "-o", str(tmp), str(source), *libs), env, BUILD_TIMEOUT_S, label=f"cc {name}"
        )
        result = proc.run(spec, sample_interval=None)
        if not result.ok:
            tmp.unlink(missing_ok=True)
            raise BuildError(
                f"building pyharness's {name} helper failed ({result.describe()}):\n{result.stderr_tail}"
            )
        os.replace(tmp, target)
    return target
