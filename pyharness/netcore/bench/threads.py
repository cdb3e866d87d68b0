"""Which thread is busy: per-thread CPU time of the bench's children, from ``/proc/<pid>/task/<tid>/``.

``schedstat`` (the kernel's Documentation/scheduler/sched-stats.rst, "/proc/<pid>/schedstat")
is one line of three numbers per task: nanoseconds on a CPU, nanoseconds
runnable but waiting for a CPU, and timeslices run, e.g.::

    288653894 122719772 104

``stat`` (proc(5), /proc/pid/stat) gives the minor page faults (field 10,
counted after the parenthesised name); ``status`` the lines
``voluntary_ctxt_switches:`` (the thread slept: a wake-up) and
``nonvoluntary_ctxt_switches:`` (it was preempted).

A thread whose on-CPU time is close to the wall time of a run is the one that
saturates; time spent waiting says the cores were oversubscribed (three busy
threads on two cores). ``sample`` reads the files, ``parse_schedstat`` and
``loads`` are pure, ``summarize`` turns the runs' loads into one line per thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyharness.netcore.bench.model import quantile

PROC = Path("/proc")
# A thread with less on-CPU time than this share of the run is left out of the profile.
MIN_BUSY = 0.02


@dataclass(frozen=True)
class ThreadTime:
    """One thread's counters at one moment."""

    tid: int
    name: str
    cpu_ns: int
    wait_ns: int
    minflt: int = 0
    wakeups: int = 0  # voluntary context switches
    preempted: int = 0  # involuntary ones


@dataclass(frozen=True)
class ThreadLoad:
    """One thread over one run: its share of the wall time on a CPU, and runnable but waiting."""

    process: str
    thread: str
    cpu_s: float
    wait_s: float
    busy: float
    waiting: float
    ns_per_frame: float  # on-CPU time per frame delivered (0 when no frames were counted)
    faults: int = 0  # minor page faults
    wakeups: int = 0
    preempted: int = 0


def parse_schedstat(text: str) -> tuple[int, int]:
    """(on-CPU ns, waiting ns) from one schedstat line; ``ValueError`` when it is not one."""
    fields = text.split()
    if len(fields) < 2:
        raise ValueError(f"not a schedstat line: {text!r}")
    return int(fields[0]), int(fields[1])


def parse_stat_minflt(text: str) -> int:
    """Minor faults from a ``stat`` line (``tid (name) S ppid ...``; the name may hold spaces)."""
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[7])  # field 10 of the line; fields[0] is field 3, the state


def parse_status_switches(text: str) -> tuple[int, int]:
    """(voluntary, involuntary) context switches from a ``status`` file."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
            found[key] = int(value)
    return found.get("voluntary_ctxt_switches", 0), found.get("nonvoluntary_ctxt_switches", 0)


def sample(pid: int, proc: Path = PROC) -> dict[int, ThreadTime]:
    """Every thread of ``pid`` now (threads that end while being read are skipped)."""
    out: dict[int, ThreadTime] = {}
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            cpu, wait = parse_schedstat((task / "schedstat").read_text())
            name = (task / "comm").read_text().strip()
            minflt = parse_stat_minflt((task / "stat").read_text())
            wakeups, preempted = parse_status_switches((task / "status").read_text())
        except (OSError, ValueError, IndexError):
            continue
        out[int(task.name)] = ThreadTime(int(task.name), name, cpu, wait, minflt, wakeups, preempted)
    return out


def _labels(pid: int, threads: Iterable[ThreadTime]) -> dict[int, str]:
    """``main`` for the process's first thread; others by name, numbered when names repeat."""
    ordered = sorted(threads, key=lambda t: t.tid)
    main_name = next((t.name for t in ordered if t.tid == pid), None)
    labels, seen = {}, dict[str, int]()
    for t in ordered:
        if t.tid == pid:
            labels[t.tid] = "main"
            continue
        base = "thread" if t.name == main_name else t.name  # a Python thread keeps the interpreter's name
        seen[base] = seen.get(base, 0) + 1
        labels[t.tid] = base if seen[base] == 1 else f"{base}#{seen[base]}"
    return labels


def loads(  # noqa: PLR0917 - two samples, and what they are samples of
    process: str,
    pid: int,
    before: Mapping[int, ThreadTime],
    after: Mapping[int, ThreadTime],
    wall_s: float,
    frames: int = 0,
) -> list[ThreadLoad]:
    """Each thread's share of ``wall_s`` between two samples (a thread born in between starts from 0)."""
    labels = _labels(pid, after.values())
    out = []
    for tid, end in sorted(after.items()):
        start = before.get(tid)
        cpu = (end.cpu_ns - (start.cpu_ns if start else 0)) / 1e9
        wait = (end.wait_ns - (start.wait_ns if start else 0)) / 1e9
        if wall_s > 0 and cpu / wall_s >= MIN_BUSY:
            per_frame = cpu * 1e9 / frames if frames else 0.0
            out.append(
                ThreadLoad(
                    process,
                    labels[tid],
                    cpu,
                    wait,
                    cpu / wall_s,
                    wait / wall_s,
                    per_frame,
                    end.minflt - (start.minflt if start else 0),
                    end.wakeups - (start.wakeups if start else 0),
                    end.preempted - (start.preempted if start else 0),
                )
            )
    return out


@dataclass(frozen=True)
class ThreadSummary:
    """One thread of one peer over the runs: medians of its shares of the wall time and counts per frame."""

    peer: str
    process: str
    thread: str
    runs: int
    busy: float
    waiting: float
    ns_per_frame: float
    faults_per_kframe: float
    wakeups_per_kframe: float


def summarize(details: Sequence[tuple[str, int, Sequence[Mapping[str, Any]]]]) -> list[ThreadSummary]:
    """(peer, frames, that run's ``threads`` detail) triples -> per peer and thread, the medians over runs."""
    groups: dict[tuple[str, str, str], list[tuple[float, ...]]] = {}
    for peer, frames, loads_ in details:
        k = max(frames, 1) / 1000
        for t in loads_:
            key = (peer, str(t["process"]), str(t["thread"]))
            groups.setdefault(key, []).append(
                (
                    float(t["busy"]),
                    float(t["waiting"]),
                    float(t.get("ns_per_frame", 0.0)),
                    float(t.get("faults", 0)) / k,
                    float(t.get("wakeups", 0)) / k,
                )
            )
    out = []
    for (peer, process, thread), rows in groups.items():
        med = [quantile([r[i] for r in rows], 0.5) for i in range(5)]
        out.append(ThreadSummary(peer, process, thread, len(rows), *med))
    return out
