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

# (file, the block's first line of code, the code line just before it) -> why no workload
# takes that path. The line before tells apart two blocks that start alike ("} catch (...) {").
REASONS: dict[tuple[str, str, str], str] = {
    ("csrc/core/messaging_client.cpp", "} catch (...) {",
     "reactor_->add(fd_.get(), interest_, this);  // publishes the state above to the reactor"):
        "connect() registering its new socket with the reactor fails (epoll_ctl ADD): only when the "
        "kernel is out of memory or the epoll watch limit (max_user_watches) is reached",
    ("csrc/core/messaging_client.cpp", "reactor_->run_sync([&] {", "}"):
        "a reconnect while the reactor still holds the previous connection's close batch: a window of "
        "microseconds between disconnect() and connect() that no test can hit without a hook in the core",
    ("csrc/core/messaging_client.cpp", "if (n < 0 && errno == EINTR) continue;", "}"):
        "a caller-side write of the queue that the kernel refuses (its buffer full, or interrupted): "
        "the caller writes only a queue the reactor is not writing, and on loopback the kernel has "
        "taken the bytes by then",
    ("csrc/core/messaging_client.cpp", "} catch (...) {",
     "if (!self.pending_.empty() && self.state_ == state::connected) self.schedule_flush_locked();"):
        "scheduling the flush of frames queued during a direct write fails: only when out of memory",
    ("csrc/core/messaging_client.cpp", "pending_.append(header + partial, frame_header_size - partial);",
     "if (partial < frame_header_size) {"):
        "a direct write that stops inside a frame's 4-byte header: the kernel took 1 to 3 bytes of it, "
        "which a loopback socket (whole pages of buffer) never does",
    ("csrc/core/messaging_client.cpp", "reactor_->add(fd_.get(), interest_, this);", "} else {"):
        "resume_reading() of a client whose hung-up socket left the epoll set while its inbox was full: "
        "a peer that hangs up at the very moment the inbox reaches its mark",
    ("csrc/core/messaging_client.cpp", "if (events & EPOLLHUP) {",
     "// epoll set until receive() makes room (resume_reading adds it back)."):
        "EPOLLHUP while reading is paused (the same full-inbox hang-up): a loopback peer's close "
        "arrives as EPOLLRDHUP first",
    ("csrc/core/messaging_client.cpp", 'close_on_loop(std::string("send failed: ") + std::strerror(errno));',
     "}"):
        "the reactor's send failing other than with EAGAIN: a reset peer is seen by the read side first "
        "on loopback",
    ("csrc/core/messaging_client.cpp", "flush_run();", "if (run + run_len != data) {"):
        "a read that completes a frame begun in an earlier read and then holds whole frames: it "
        "depends on where the kernel cuts the stream, which no test pins",
    ("csrc/core/messaging_client.cpp", "if (errno == EINTR) continue;", "if (n < 0) {"):
        "recv() interrupted by a signal, or failing other than with EAGAIN (a reset reads as the end of "
        "the stream first on loopback)",
    ("csrc/core/messaging_client.cpp", 'close_on_loop(std::string("recv failed: ") + std::strerror(errno));',
     "if (errno == EAGAIN || errno == EWOULDBLOCK) break;"):
        "the client's recv() failing other than with EAGAIN or EINTR (the client now reads until "
        "EAGAIN, so those two run; a reset reads as the end of the stream first on loopback)",
    ("csrc/core/messaging_server.cpp",
     "wake_always_.store(true);  // targets differ: every change wakes every waiter", "} else {"):
        "two threads waiting on one server for different targets at once: no workload waits from two "
        "threads",
    ("csrc/core/reactor.cpp", "} catch (const std::exception& e) {", "work();"):
        "a reactor handler or task that throws: each of the core's catches its own errors; this is the "
        "loop's last guard",
    ("csrc/core/reactor.cpp", "task();", "if (in_loop()) {"):
        "run_sync() called from the reactor's own thread: the core never does",
    ("csrc/core/reactor.cpp", "} catch (...) {", "task();"):
        "a run_sync() task that throws: its one caller (a reconnect, above) throws only when epoll_ctl "
        "ADD fails",
    ("csrc/core/reactor.cpp", "if (errno == EINTR) continue;", "if (n < 0) {"):
        "epoll_wait interrupted by a signal, or failing (std::terminate: an epoll descriptor the loop "
        "owns became invalid)",
    ("csrc/core/server_connection.cpp",
     "if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;", "}"):
        "a server connection's recv() failing other than with EAGAIN: a reset peer reads as the end of "
        "the stream first on loopback",
    ("csrc/core/server_connection.cpp", "out_.append(run, run_len, high);", "if (run + run_len != data) {"):
        "an echo read that completes a frame begun in an earlier read and then holds whole frames "
        "(where the kernel cuts the stream; no test pins it)",
    ("csrc/core/server_connection.cpp", "if (n < 0 && errno == EINTR) continue;",
     "if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;"):
        "the echo send interrupted by a signal, or failing with EPIPE or a reset: the peer's close "
        "reaches the read side first on loopback",
    ("csrc/core/server_connection.cpp", "close();", "if (pending == 0 && peer_done_) {"):
        "a peer that half-closed is closed from the write path once its echo is sent: the read path, "
        "seeing the end of the stream with nothing queued, closes it first",
    ("csrc/core/socket_util.cpp", "if (errno == EINTR) continue;", "if (rc < 0) {"):
        "poll() in connect_with_timeout interrupted by a signal, or failing",
    ("csrc/core/buffer_pool.cpp", "} catch (...) {",
     "spare_.reserve(max_buffers);  // once: later pushes never allocate"):
        "reserving the pool's list of spare buffers fails: only when the process is out of memory "
        "(the buffer is then freed, as without a pool)",
    ("csrc/core/messaging_client.cpp", "if (errno == EINTR) continue;",
     "if (n >= 0) return static_cast<std::size_t>(n);"):
        "the caller's direct sendmsg(MSG_DONTWAIT) interrupted by a signal: a non-blocking send "
        "does not sleep, so there is no wait for a signal to interrupt",
    ("csrc/core/messaging_client.cpp", "if (errno == EAGAIN || errno == EWOULDBLOCK) kernel_full_ = true;",
     "// reactor's drain meets it too, and closes with its reason."):
        "the direct first write of a frame meets a full kernel buffer: it writes only when the queue "
        "is empty, and a peer that stops reading fills the queue first (the backpressure tests "
        "reach the full kernel through the reactor's drain instead)",
    ("csrc/core/messaging_server.cpp", "} catch (...) {", "closed_.push_back(std::move(by_fd_[slot]));"):
        "growing the closed-connections list fails (out of memory): the connection is then kept "
        "alive by a deferred task instead",
    ("csrc/core/messaging_server.cpp", "std::shared_ptr<server_connection> doomed(std::move(by_fd_[slot]));",
     "// (An allocation failure here as well ends the process, as it always did.)"):
        "the rest of the out-of-memory path above",
    ("csrc/core/reactor.cpp", "} catch (...) {", "timer_deadlines_.emplace(id, deadline);"):
        "recording a new timer's deadline fails (out of memory): the timer is taken back out and "
        "the error goes to the caller",
    ("csrc/core/reactor.cpp",
     "continue;  // closed (and perhaps destroyed) while we slept: its event is stale",
     "std::find(forgotten_now_.begin(), forgotten_now_.end(), handler) != forgotten_now_.end()) {"):
        "an event for a handler another thread closed between epoll_wait's return and the "
        "event's turn in the batch: a window of microseconds no test can hit without a hook",
}  # fmt: skip


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


def unreached(coverage: Coverage, root: Path, prefix: str = CORE) -> list[tuple[str, int, int, str, str]]:
    """(file, first line, last line, its code, the code line before it) of each path never executed
    under ``prefix``."""
    out: list[tuple[str, int, int, str, str]] = []
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
            before = next((line.strip() for line in reversed(source[: first - 1]) if line.strip()), "")
            out.append((f.file, first, last, code, before))
    return out


def reason(file: str, code: str, before: str) -> str:
    return REASONS.get((file, code, before), NO_REASON)


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
    for file, first, last, code, before in paths:
        where = f"{file}:{first}" + (f"-{last}" if last != first else "")
        lines.append(f"| `{where}` | `{_md(code)}` | {_md(reason(file, code, before))} |")
    return "\n".join(lines)


__all__ = ["COVERAGE_RESULTS", "REASONS", "coverage_block", "keep_coverage", "unreached"]
