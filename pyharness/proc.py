"""The one subprocess gateway: start a ``LaunchSpec``, sample its RSS, bound its time.

Every process the harness starts goes through here: argv lists only (never a
shell), the command logged with ``shlex.join``, ``LC_ALL=C`` so any text we
parse is in one locale. ``run`` puts the process in its own session (so a
timeout can signal the whole tree: a subject's helper processes too), samples
the subject's RSS with psutil at a fixed interval, and on timeout sends SIGTERM
to the group, waits a grace period (Valgrind and heaptrack write their reports
on SIGTERM, never on SIGKILL), then SIGKILLs it.

Nothing here decides whether an exit code is good news: the result carries the
return code, the signal and the stderr tail, and ``ProcResult.ok`` compares
them with the spec's ``success_codes``. The environment is taken as given:
runners decide what it holds (``LD_PRELOAD`` included).

Stopping: ``pyharness.interrupt`` turns SIGTERM and SIGINT into a request that
every ``run`` in progress (in any thread) sees within one sampling interval:
it stops its process group (TERM, grace, KILL) and raises ``Interrupted``.
Every group started here is registered with ``pyharness.interrupt`` until it is
reaped, so a second signal can SIGKILL them all at once and nothing outlives its run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from pyharness import interrupt
from pyharness.errors import SubjectError
from pyharness.interrupt import Interrupted, requested

log = logging.getLogger("pyharness.proc")

DEFAULT_SAMPLE_INTERVAL_S = 0.05
_POLL_S = 0.2  # the longest wait between looks at the interrupt flag when not sampling
DEFAULT_GRACE_S = 8.0  # between SIGTERM and SIGKILL: long enough for a tool to write its report
STDERR_TAIL_LINES = 40
_TAIL_BYTES = 64 * 1024  # how much of stderr is kept in memory when it is not going to a file
_STDOUT_LIMIT = 16 * 1024 * 1024  # captured stdout beyond this is dropped (oldest first)


@dataclass(frozen=True)
class LaunchSpec:
    """One process to start: the full command, its environment and its limits."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    timeout_s: float  # the wall-clock limit, used as it is (no factor is applied here)
    # Exit codes meaning "the tool ran; the parser gives the verdict". Anything
    # else (or a signal) is reported with the stderr tail as a tool/subject error.
    success_codes: frozenset[int] = frozenset({0})
    cwd: Path | None = None
    stdout_path: Path | None = None  # where stdout goes (else captured in memory)
    stderr_path: Path | None = None
    label: str = ""  # e.g. "valgrind", "heaptrack_print"


@dataclass(frozen=True)
class RssSample:
    """One psutil reading: the subject alone and the subject with its descendants."""

    t: float  # time.monotonic(), comparable with the subject's own event times
    rss: int  # bytes, the subject process
    tree_rss: int  # bytes, the subject and every descendant
    fds: int | None  # open descriptors of the subject (None when unreadable)


@dataclass(frozen=True)
class ProcResult:
    """What happened to one process."""

    argv: tuple[str, ...]
    label: str
    pid: int
    returncode: int
    signal: int | None  # the signal that ended it, if any
    timed_out: bool
    started: float  # time.monotonic() at start
    duration_s: float
    stdout: str  # captured stdout ("" when it went to a file)
    stderr_tail: str  # the last lines of stderr
    samples: tuple[RssSample, ...]
    success_codes: frozenset[int]
    interrupted: bool = False  # stopped because the run was asked to stop

    @property
    def ok(self) -> bool:
        """True when it exited on its own with one of the spec's success codes."""
        return (
            not self.timed_out
            and not self.interrupted
            and self.signal is None
            and self.returncode in self.success_codes
        )

    def describe(self) -> str:
        """How it ended, in words: ``exit 3``, ``killed by SIGSEGV``, ``timed out after 30 s``."""
        if self.interrupted:
            return f"stopped after {self.duration_s:.0f} s: the run was interrupted"
        if self.timed_out:
            how = (
                f"killed by {signal.Signals(self.signal).name}" if self.signal else f"exit {self.returncode}"
            )
            return f"timed out after {self.duration_s:.0f} s ({how})"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exit {self.returncode}"

    @property
    def peak_rss(self) -> int | None:
        return max((s.rss for s in self.samples), default=None)


TickCallback = Callable[[float, RssSample | None], None]


class _Drain(threading.Thread):
    """Reads a pipe to its end so the child never blocks on a full pipe; keeps a bounded tail."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._limit = limit
        self._data = bytearray()

    def run(self) -> None:
        fd = self._stream.fileno()
        with self._stream:
            for chunk in iter(lambda: os.read(fd, 65536), b""):
                self._data += chunk
                if len(self._data) > self._limit:
                    del self._data[: len(self._data) - self._limit]

    def text(self) -> str:
        return self._data.decode("utf-8", "replace")


def _tail_lines(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _file_tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            return _tail_lines(f.read().decode("utf-8", "replace"))
    except OSError:
        return ""


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a child gets: as given, plus ``LC_ALL=C``."""
    out = dict(env)
    out["LC_ALL"] = "C"
    return out


def _sample(proc: psutil.Process) -> RssSample | None:
    t = time.monotonic()
    try:
        rss = int(proc.memory_info().rss)
    except psutil.Error:
        return None
    if rss == 0:
        return None  # an exited, not yet reaped process (a zombie) reads as 0: not a sample
    tree = rss
    try:
        for child in proc.children(recursive=True):
            try:
                tree += int(child.memory_info().rss)
            except psutil.Error:
                continue
    except psutil.Error:
        pass
    try:
        fds: int | None = int(proc.num_fds())
    except psutil.Error:
        fds = None
    return RssSample(t, rss, tree, fds)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pgid, sig)


def _stop_group(popen: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the whole group, wait ``grace_s``, then SIGKILL it."""
    _signal_group(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        log.warning("pid %d ignored SIGTERM for %.0f s: sending SIGKILL", popen.pid, grace_s)
        _signal_group(popen.pid, signal.SIGKILL)
        popen.wait()
    except BaseException:
        _signal_group(popen.pid, signal.SIGKILL)  # interrupted while waiting: end it now
        popen.wait()
        raise


def _start(spec: LaunchSpec) -> tuple[subprocess.Popen[bytes], dict[str, _Drain]]:
    """Start the process in a session of its own, with a drain per captured pipe."""
    argv = list(spec.argv)
    if not argv:
        raise SubjectError("empty command line")
    log.info("%s: %s", spec.label or "run", shlex.join(argv))
    stdout_file = spec.stdout_path.open("wb") if spec.stdout_path else None
    stderr_file = spec.stderr_path.open("wb") if spec.stderr_path else None
    try:
        popen = subprocess.Popen(
            argv,
            env=child_env(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout_file or subprocess.PIPE,
            stderr=stderr_file or subprocess.PIPE,
            start_new_session=True,  # its own process group: timeouts signal the whole tree
        )
    except OSError as err:
        raise SubjectError(f"could not start {shlex.join(argv)}: {err}") from err
    finally:
        # The child holds its own copies; ours would only keep the files open.
        for f in (stdout_file, stderr_file):
            if f is not None:
                f.close()
    interrupt.track_group(popen.pid)
    pipes = (("stdout", popen.stdout, _STDOUT_LIMIT), ("stderr", popen.stderr, _TAIL_BYTES))
    drains = {name: _Drain(stream, limit) for name, stream, limit in pipes if stream is not None}
    for d in drains.values():
        d.start()
    return popen, drains


@dataclass
class _Watch:
    """What watching a running process saw: its samples, and why it was stopped, if it was."""

    samples: list[RssSample]
    timed_out: bool = False
    interrupted: Interrupted | None = None


def _watch(
    spec: LaunchSpec,
    popen: subprocess.Popen[bytes],
    started: float,
    *,
    sample_interval: float | None,
    grace_s: float,
    on_tick: TickCallback | None,
    interruptible: bool,
) -> _Watch:
    """Sample, tick and wait until the process ends, its time runs out or the run is stopped."""
    watch = _Watch([])
    name = spec.label or spec.argv[0]
    deadline = started + spec.timeout_s
    try:
        ps: psutil.Process | None = psutil.Process(popen.pid)
    except psutil.Error:
        ps = None
    while True:
        sample = _sample(ps) if ps is not None and sample_interval is not None else None
        if sample is not None:
            watch.samples.append(sample)
        if on_tick is not None:
            on_tick(time.monotonic() - started, sample)
        stop = requested() if interruptible else None
        if stop is not None:
            watch.interrupted = Interrupted(stop)
            log.warning("%s: interrupted (%s): stopping pid %d", name, stop.name, popen.pid)
            _stop_group(popen, grace_s)
            return watch
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            watch.timed_out = True
            log.warning("%s: timed out after %.0f s: sending SIGTERM", name, spec.timeout_s)
            _stop_group(popen, grace_s)
            return watch
        try:
            # Short waits even without sampling: an interrupt is noticed within one.
            popen.wait(timeout=min(sample_interval or _POLL_S, remaining))
            return watch
        except subprocess.TimeoutExpired:
            continue


def run(
    spec: LaunchSpec,
    *,
    sample_interval: float | None = DEFAULT_SAMPLE_INTERVAL_S,
    grace_s: float = DEFAULT_GRACE_S,
    on_tick: TickCallback | None = None,
    interruptible: bool = True,
) -> ProcResult:
    """Run ``spec`` to completion (or timeout) and say how it went.

    ``sample_interval=None`` disables RSS sampling (for short helper commands).
    ``interruptible=False`` lets a short query finish even while the run is
    stopping (the report's git facts, written after an interrupt).
    ``on_tick(elapsed_s, latest_sample)`` is called after every sample, from
    this thread, e.g. to update a progress line. Raises ``SubjectError`` only
    when the process cannot be started at all.
    """
    started = time.monotonic()
    popen, drains = _start(spec)
    try:
        watch = _watch(
            spec, popen, started, sample_interval=sample_interval, grace_s=grace_s, on_tick=on_tick,
            interruptible=interruptible,
        )  # fmt: skip
    finally:
        if popen.poll() is None:  # an exception (KeyboardInterrupt): never leave it running
            _stop_group(popen, grace_s)
        # Helpers the subject started but did not reap must not outlive the cell.
        _signal_group(popen.pid, signal.SIGKILL)
        interrupt.untrack_group(popen.pid)
    duration = time.monotonic() - started
    for d in drains.values():
        d.join(timeout=5.0)
    if "stderr" in drains:
        stderr_tail = _tail_lines(drains["stderr"].text())
    elif spec.stderr_path is not None:
        stderr_tail = _file_tail(spec.stderr_path)
    else:
        stderr_tail = ""
    rc = popen.returncode
    result = ProcResult(
        argv=tuple(spec.argv),
        label=spec.label,
        pid=popen.pid,
        returncode=rc,
        signal=-rc if rc < 0 else None,
        timed_out=watch.timed_out,
        started=started,
        duration_s=duration,
        stdout=drains["stdout"].text() if "stdout" in drains else "",
        stderr_tail=stderr_tail,
        samples=tuple(watch.samples),
        success_codes=spec.success_codes,
        interrupted=watch.interrupted is not None,
    )
    log.info("%s: %s after %.2f s", spec.label or spec.argv[0], result.describe(), duration)
    if watch.interrupted is not None:
        watch.interrupted.pid, watch.interrupted.duration_s = popen.pid, duration
        raise watch.interrupted
    return result


def start_piped(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start a helper that talks over line-buffered text pipes (stdin/stdout).

    Used by a workload for its own helper processes (the client fleet); the
    helper stays in the caller's process group, so the caller's timeout and
    cleanup reach it. stderr is inherited: it lands in the subject's log.
    """
    log.info("helper: %s", shlex.join(argv))
    try:
        return subprocess.Popen(
            list(argv),
            env=child_env(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
    except OSError as err:
        raise SubjectError(f"could not start {shlex.join(argv)}: {err}") from err
