"""What the core's scenarios share: presets, fd limits, self-readings, the variant check.

Each scenario (``pyharness.netcore.workloads``) is a ``pyharness.scenario.Scenario``.
Counts default to ``None`` so that ``--sweep`` can pick the pre-release preset
while an explicit option still wins; ``preset()`` resolves them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
from types import ModuleType
from typing import Any, TypeVar

import psutil

import pyharness
from pyharness.api import ConfigError, Size, SubjectError

LOOPBACK = "127.0.0.1"  # workloads never leave the machine
FD_HEADROOM = 64  # descriptors a process needs besides its sockets (stdio, epoll, eventfd, imports)
KIB = 1024

T = TypeVar("T")


def preset(args: argparse.Namespace, name: str, quick: T, sweep: T) -> T:
    """The option's explicit value, else the ``--sweep`` or the quick default."""
    value = getattr(args, name, None)
    if value is not None:
        return value  # type: ignore[no-any-return]
    return sweep if getattr(args, "sweep", False) else quick


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (underscores and commas allowed: 10_000, 10,000)."""
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return 0 if text.strip() in {"0", "-0"} else positive_int(text)


def port_number(text: str) -> int:
    """argparse type: a TCP port (0 = any free port, the default everywhere)."""
    value = 0 if text.strip() == "0" else positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {value}")
    return value


def add_port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=port_number,
        default=0,
        help="port the server listens on (default 0: any free port; a fixed port is for tests of the "
        "'port in use' error only)",
    )


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def need_fds(count: int, what: str) -> None:
    """Fail early (ConfigError) when ``count`` sockets cannot fit under the fd limit."""
    limit = raise_fd_limit()
    if limit != resource.RLIM_INFINITY and count + FD_HEADROOM > limit:
        raise ConfigError(
            f"{what} needs {count} descriptors plus {FD_HEADROOM} spare, but this process may hold at most "
            f"{limit} (RLIMIT_NOFILE hard limit)"
        )


_SELF: psutil.Process | None = None


def peak_rss() -> int:
    """This process image's peak RSS in bytes: ``VmHWM`` from /proc/self/status.

    Not ``ru_maxrss``: Linux carries that across fork and exec, so a subject
    started by a 140 MB orchestrator reports 140 MB before it has done anything.
    ``VmHWM`` belongs to the address space, which exec replaces.
    """
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * KIB
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * KIB  # a kernel without VmHWM


def self_stats() -> dict[str, int]:
    """This process's RSS, peak RSS (``peak_rss``) and open descriptors, for an event."""
    global _SELF  # noqa: PLW0603 - one psutil handle per process, made on first use
    if _SELF is None:
        _SELF = psutil.Process()
    return {
        "rss": int(_SELF.memory_info().rss),
        "peak_rss": peak_rss(),
        "fds": int(_SELF.num_fds()),
    }


def check_variant() -> str:
    """The variant this process imported; SubjectError when it is not the one expected.

    The orchestrator sets ``PYHARNESS_EXPECT_VARIANT`` (``StagedBuild.env``). An
    editable install or a stale ``PYTHONPATH`` would otherwise measure the wrong
    build without a word.
    """
    expected = os.environ.get("PYHARNESS_EXPECT_VARIANT")
    where = os.path.dirname(pyharness.__file__)
    try:
        config = importlib.import_module("pyharness._build_config")
    except ImportError as err:
        if expected:
            raise SubjectError(
                f"expected the {expected!r} variant but imported pyharness from {where}, which is not a "
                "built copy (no _build_config): check PYTHONPATH and editable installs"
            ) from err
        return "unknown"
    actual = str(config.VARIANT)
    if expected and actual != expected:
        raise SubjectError(
            f"expected the {expected!r} variant but imported {actual!r} from {where} (an editable install or "
            "a stale PYTHONPATH wins over the staged build)"
        )
    return actual


def load_netcore() -> ModuleType:
    """``pyharness._netcore``, with a clear error when the compiled core is missing."""
    try:
        return importlib.import_module("pyharness._netcore")
    except ImportError as err:
        raise SubjectError(f"cannot import the compiled core pyharness._netcore: {err}") from err


def start_server(netcore: ModuleType, name: str, port: int, **options: Any) -> Any:
    """A started ``MessagingServer`` on loopback; SubjectError when it cannot listen."""
    server = netcore.MessagingServer(name, **options)
    try:
        server.start(LOOPBACK, port)
    except OSError as err:
        raise SubjectError(f"server could not listen on {LOOPBACK}:{port}: {err}") from err
    return server


def prepare() -> str:
    """What every core scenario does first: check the variant imported, raise the fd limit."""
    variant = check_variant()
    raise_fd_limit()
    return variant


SLOW_TOOLS = ("asan", "valgrind", "heaptrack", "tsan", "memray")


# What the slow tools' small quick sizes take natively (seconds): each of them measured between
# 0.2 s (tsan) and about 1 s (valgrind's 5,000 frames, 100 cycles, 200 clients) of subject time
# per unit of the tool's slowdown on this machine.
QUICK_SIZE_EXPECTED_S = 1.5


def sizes_by_tool(
    option: str,
    quick: dict[str, str],
    sweep: dict[str, tuple[str, float]],
) -> dict[str, Size]:
    """A scenario's sizes under the slow tools: ``option VALUE`` at the quick preset, and at the
    sweep ``option VALUE`` with its expected native seconds (``pyharness.project.Size``)."""
    out = {tool: Size((option, value), expected_s=QUICK_SIZE_EXPECTED_S) for tool, value in quick.items()}
    out.update(
        {
            f"sweep.{tool}": Size((option, value), expected_s=seconds)
            for tool, (value, seconds) in sweep.items()
        }
    )
    return out
