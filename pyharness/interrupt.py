"""Stopping a run: SIGTERM and SIGINT become a request every running process sees.

``install()`` (the CLI calls it) sets handlers for SIGINT, SIGTERM and SIGHUP.
The first signal only records the request; the subprocess gateway
(``pyharness.proc``) looks at it in every wait, stops its process group (TERM,
a grace period so Valgrind and heaptrack write their reports, then KILL) and
raises ``Interrupted`` in whichever thread ran it, so the cell becomes an
``error: interrupted`` report and the run writes the report of every cell that
finished. A second signal ends at once: every process group still running is
killed and the orchestrator exits with 128 + the signal.

The gateway registers every process group it starts (``track_group``) until
it is reaped, so the second signal reaches all of them (``kill_all``).

On Linux the orchestrator also asks for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``): nox killed by SIGTERM does not pass it on, and the
orchestrator must not go on running, orphaned, with its subject.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1

_request: signal.Signals | None = None
_lock = threading.Lock()
_groups: set[int] = set()  # process groups started and not yet reaped
_groups_lock = threading.Lock()


class Interrupted(BaseException):
    """The run was asked to stop (by ``signum``); raised where the work was."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(f"interrupted by {signum.name}")
        self.signum = signum
        # The process the gateway stopped for it, when one was running, and how long it had run.
        self.pid: int | None = None
        self.duration_s: float | None = None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


def track_group(pgid: int) -> None:
    """Remember a process group until ``untrack_group``: a second signal kills it."""
    with _groups_lock:
        _groups.add(pgid)


def untrack_group(pgid: int) -> None:
    with _groups_lock:
        _groups.discard(pgid)


def kill_all() -> None:
    """SIGKILL every tracked process group (the second interrupt: end at once)."""
    with _groups_lock:
        groups = list(_groups)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
            os.killpg(pgid, signal.SIGKILL)


def requested() -> signal.Signals | None:
    """The signal that asked the run to stop, or None."""
    return _request


def request(signum: signal.Signals) -> None:
    """Ask every running process to stop (what the first signal does; tests call it too)."""
    global _request  # noqa: PLW0603 - one flag per process, set from a signal handler
    with _lock:
        if _request is None:
            _request = signum


def reset() -> None:
    """Forget a request (for tests; a CLI process ends after one)."""
    global _request  # noqa: PLW0603
    _request = None


def check() -> None:
    """Raise ``Interrupted`` when a stop was requested (between cells, between phases)."""
    signum = _request
    if signum is not None:
        raise Interrupted(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    sig = signal.Signals(signum)
    if _request is not None:
        # The second signal: no more grace. Kill what runs and leave.
        kill_all()
        sys.stderr.write(f"\npyharness: {sig.name} again: killed every running process, exiting now\n")
        os._exit(128 + signum)
    request(sig)
    sys.stderr.write(
        f"\npyharness: {sig.name}: stopping the running cell and writing the report "
        "(send it again to end at once)\n"
    )


def install() -> None:
    """Install the handlers (main thread only) and ask for SIGTERM when the parent dies."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # best effort: without it an orphaned run still ends at its time limits
