"""The docs' coverage block: what the quick matrix's workloads ran of the core, and what they never did.

Input: ``docs/coverage-results.json``, the merged coverage of one quick matrix
run's coverage cells, kept by ``python -m pyharness.netcore.docs --keep-coverage
RUN_DIR`` (``keep_coverage``). The block gives the core's figure, each folder's,
and every block of ``csrc/core`` lines no workload executed, with the reason no
workload reaches it (``REASONS``, keyed by the file and the block's first line
of code, so an edit elsewhere does not orphan a reason). A block without a
reason says so in the doc, and the docs' tests fail on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyharness.api import ConfigError, Coverage, Summary, totals_text

COVERAGE_RESULTS = "coverage-results.json"  # beside the docs
COVERAGE_SCHEMA = "pyharness.netcore.coverage/1"
CORE = "csrc/core/"
# Missed lines this close together are one path (a brace or a comment between them has no counter).
GAP = 2
NO_REASON = "**no reason recorded** (add one to `pyharness/netcore/coverage_doc.py`)"

# (file, first line of the block as written) -> why no workload takes that path.
REASONS: dict[tuple[str, str], str] = {
    (
        "csrc/core/messaging_client.cpp",
        "} catch (...) {",
    ): "registering a fresh socket with the reactor (epoll_ctl ADD) fails only when the kernel is out of "
    "memory or the epoll limit (max_user_watches) is reached",
    (
        "csrc/core/messaging_client.cpp",
        "reactor_->run_sync([&] {",
    ): "a reconnect while the reactor still holds the previous connection's close batch: a race of "
    "microseconds between disconnect() and connect(); no test can order it without a hook in the core",
    (
        "csrc/core/messaging_client.cpp",
        "if (n < 0 && errno == EINTR) continue;",
    ): "send() interrupted by a signal: the harness's subjects install no signal handler that interrupts "
    "system calls (SA_RESTART)",
    (
        "csrc/core/messaging_client.cpp",
        "pending_.append(header + partial, frame_header_size - partial);",
    ): "a direct write that stops inside a frame's 4-byte header: the kernel accepted 1 to 3 bytes, "
    "which a loopback socket's buffer (whole pages) never does",
    (
        "csrc/core/messaging_client.cpp",
        "reactor_->add(fd_.get(), interest_, this);",
    ): "resume_reading() of a client whose hung-up socket left the epoll set while its inbox was full: "
    "needs a peer that hangs up exactly while the inbox is at its mark",
    (
        "csrc/core/messaging_client.cpp",
        "if (events & EPOLLHUP) {",
    ): "EPOLLHUP while reading is paused (the same full-inbox hang-up): loopback peers that close send "
    "FIN, seen as EPOLLRDHUP before any EPOLLHUP",
    (
        "csrc/core/messaging_client.cpp",
        'close_on_loop(std::string("send failed: ") + std::strerror(errno));',
    ): "send() failing with an error other than EAGAIN on the reactor's drain: a reset peer is seen "
    "by the read side first on loopback",
    (
        "csrc/core/messaging_client.cpp",
        "flush_run();",
    ): "a batch of received frames larger than the delivery run: needs more frames in one read than "
    "the inbox mark lets in",
    (
        "csrc/core/messaging_client.cpp",
        "if (errno == EINTR) continue;",
    ): "recv() interrupted by a signal, or failing with an error other than EAGAIN (a reset is "
    "reported as end of stream first on loopback)",
    (
        "csrc/core/messaging_client.hpp",
        "const std::string& name() const noexcept { return name_; }",
    ): "the accessor the bindings' `name` property calls (covered when a test reads it)",
    (
        "csrc/core/messaging_server.cpp",
        "wake_always_.store(true);  // targets differ: every change wakes every waiter",
    ): "two threads waiting on one server for different targets at once: no workload waits from two threads",
    (
        "csrc/core/reactor.cpp",
        "} catch (const std::exception& e) {",
    ): "a task posted to the reactor that throws: every task of the core catches its own errors; this "
    "is the loop's last guard",
    (
        "csrc/core/reactor.cpp",
        "os_error sys_error(const char* what) { return os_error(errno, what); }",
    ): "epoll_create1 or eventfd failing: the descriptor-exhaustion test reaches it in a child process",
    (
        "csrc/core/reactor.cpp",
        "task();",
    ): "run_sync() called from the reactor's own thread: the core never does",
    (
        "csrc/core/reactor.cpp",
        "} catch (...) {",
    ): "a run_sync() task that throws: the core's tasks do not throw",
    (
        "csrc/core/reactor.cpp",
        "if (errno == EINTR) continue;",
    ): "epoll_wait interrupted by a signal (EINTR) or failing otherwise (std::terminate on an epoll "
    "descriptor that became invalid)",
    (
        "csrc/core/server_connection.cpp",
        "if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;",
    ): "recv() failing with an error other than EAGAIN on a server connection: a reset peer reads as "
    "end of stream on loopback",
    (
        "csrc/core/server_connection.cpp",
        "out_.append(run, run_len, high);",
    ): "an echo run that fills the output queue in the middle of one read's frames: needs more echoed "
    "bytes in one read than the write mark",
    (
        "csrc/core/server_connection.cpp",
        "if (n < 0 && errno == EINTR) continue;",
    ): "send() interrupted by a signal, or failing other than EAGAIN, while echoing",
    (
        "csrc/core/server_connection.cpp",
        "close();",
    ): "the echo send failing with EPIPE or a reset: the peer's close reaches the read side first "
    "on loopback",
    (
        "csrc/core/socket_util.cpp",
        "if (errno == EINTR) continue;",
    ): "poll() in connect_with_timeout interrupted by a signal, or failing",
}


def keep_coverage(run_dir: Path, docs: Path) -> Path:
    """Keep the merged coverage of one run (its summary.json) as docs/coverage-results.json."""
    try:
        summary = Summary.from_json(json.loads((run_dir / "summary.json").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{run_dir}: no readable summary.json: {err}") from err
    if summary.coverage is None:
        raise ConfigError(f"{run_dir}: the run has no coverage cell (run `nox -s coverage`)")
    doc = {
        "schema": COVERAGE_SCHEMA,
        "run_id": summary.run_id,
        "created": summary.created,
        "coverage": summary.coverage.to_json(),
    }
    out = docs / COVERAGE_RESULTS
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return out


def unreached(coverage: Coverage, root: Path, prefix: str = CORE) -> list[tuple[str, int, int, str]]:
    """(file, first line, last line, the first line's code) of each path never executed under ``prefix``."""
    out: list[tuple[str, int, int, str]] = []
    for f in coverage.files:
        if not f.file.startswith(prefix) or not f.lines_missed:
            continue
        try:
            source = (root / f.file).read_text(encoding="utf-8").splitlines()
        except OSError:
            source = []
        blocks: list[list[int]] = []
        for n in f.lines_missed:
            if blocks and n - blocks[-1][1] <= GAP:
                blocks[-1][1] = n
            else:
                blocks.append([n, n])
        for first, last in blocks:
            code = source[first - 1].strip() if first <= len(source) else ""
            out.append((f.file, first, last, code))
    return out


def reason(file: str, code: str) -> str:
    return REASONS.get((file, code), NO_REASON)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def coverage_block(doc: dict[str, Any] | None, root: Path) -> str:
    """The generated ``coverage`` block of docs/MEMORY_PROFILING.md."""
    if doc is None:
        return (
            "No coverage kept yet: run `nox -s coverage`, then `python -m pyharness.netcore.docs "
            f"--keep-coverage reports/latest` (it writes docs/{COVERAGE_RESULTS})."
        )
    if doc.get("schema") != COVERAGE_SCHEMA:
        raise ConfigError(
            f"docs/{COVERAGE_RESULTS}: schema {doc.get('schema')!r}, expected {COVERAGE_SCHEMA!r}"
        )
    coverage = Coverage.from_json(doc["coverage"])
    core = coverage.totals(CORE)
    lines = [
        f"`csrc/core` by the quick matrix's workloads ({len(coverage.cells)} coverage cells, run "
        f"`{doc.get('run_id', '?')}`, {doc.get('created', '?')}): **{totals_text(core)}**.",
        "",
        "| folder | lines | branches | functions |",
        "|---|---:|---:|---:|",
    ]
    for folder, t in coverage.folders():
        lines.append(
            f"| `{folder}` | {t.lines_percent:.1f}% ({t.lines_covered}/{t.lines_total}) | "
            f"{t.branches_percent:.1f}% ({t.branches_covered}/{t.branches_total}) | "
            f"{t.functions_percent:.1f}% ({t.functions_covered}/{t.functions_total}) |"
        )
    paths = unreached(coverage, root)
    untaken = [b for f, b in coverage.branches_never_taken() if f.startswith(CORE)]
    lines += [
        "",
        f"The {len(paths)} paths of `csrc/core` no workload executed, and why none reaches them "
        f"({len(untaken)} more lines of the core have a branch never taken while the line itself ran; "
        "each run's report.html lists them with their code):",
        "",
        "| path | code | why no workload reaches it |",
        "|---|---|---|",
    ]
    for file, first, last, code in paths:
        where = f"{file}:{first}" + (f"-{last}" if last != first else "")
        lines.append(f"| `{where}` | `{_md(code)}` | {_md(reason(file, code))} |")
    return "\n".join(lines)


__all__ = ["COVERAGE_RESULTS", "REASONS", "coverage_block", "keep_coverage", "unreached"]
