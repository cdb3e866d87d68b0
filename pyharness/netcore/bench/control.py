"""The orchestrator's handle on one child process: spawn, one JSON request at a time, bounded shutdown.

A child is a Python peer (``python -m pyharness.netcore.bench.child``, see
``python_child``) or a native one (``loopback_limit``); both answer in JSON
lines on stdout, the first of which carries the child's ``pid``.

Argv lists only, the command logged with ``shlex.join``; every read has a
deadline; shutdown asks politely (``exit``), then SIGTERM, then SIGKILL.
A failed child becomes a ``BenchError`` carrying its exit code and stderr tail.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from pyharness.api import HarnessError

log = logging.getLogger("pyharness.netcore.bench")
STDERR_TAIL_LINES = 20
GRACE_S = 5.0


class BenchError(HarnessError):
    """A benchmark child failed, timed out or broke the sent == received check."""


def python_child(*args: str) -> list[str]:
    """The argv of a Python peer's child process."""
    # -P: the checkout in the current directory must not shadow the package chosen by PYTHONPATH.
    return [sys.executable, "-P", "-m", "pyharness.netcore.bench.child", *args]


def child_env(package_root: Path) -> dict[str, str]:
    """The environment children run in: this very package first on the path, one locale."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
    env["LC_ALL"] = "C"
    return env


class Child:
    """One child process speaking JSON lines; its first line (``hello``) carries its ``pid``."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], timeout: float) -> None:
        self.argv = argv
        self.label = label
        log.info("%s: %s", label, shlex.join(self.argv))
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child; closed in close()
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
            bufsize=1,
        )
        self._selector = selectors.DefaultSelector()
        assert self._proc.stdout is not None
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)
        self.hello = self._read(timeout)
        self.pid = int(self.hello["pid"])
        self.ps = psutil.Process(self.pid)

    def request(self, op: str, deadline: float, **fields: Any) -> dict[str, Any]:
        """Send one command; return its reply (within ``deadline`` s) or raise ``BenchError``."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError as err:
            raise self._failure(f"{op}: the child is gone") from err
        return self._read(deadline, op)

    def read(self, deadline: float, op: str) -> dict[str, Any]:
        """The child's next reply (a native child answers once, unasked), within ``deadline`` s."""
        return self._read(deadline, op)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def fds(self) -> int:
        return int(self.ps.num_fds())

    def _read(self, timeout: float, op: str = "start") -> dict[str, Any]:
        assert self._proc.stdout is not None
        if not self._selector.select(timeout):
            raise self._failure(f"{op}: no answer within {timeout:.0f} s")
        line = self._proc.stdout.readline()
        if not line:
            raise self._failure(f"{op}: the child closed its output")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise self._failure(f"{op}: {reply['error']}")
        return reply

    def _failure(self, what: str) -> BenchError:
        self._stop()
        self._stderr.seek(0)
        tail = "\n".join(self._stderr.read().decode(errors="replace").splitlines()[-STDERR_TAIL_LINES:])
        self.close()
        code = self._proc.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
        return BenchError(f"{self.label} ({shlex.join(self.argv)}) failed: {what} [{how}]\n{tail}")

    def close(self) -> None:
        """Stop the child and release what this handle owns. Idempotent."""
        self._stop()
        self._selector.close()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                # A child that already exited (a native one ends by itself) leaves the
                # unflushed exit command in stdin's buffer: closing it says broken pipe.
                with contextlib.suppress(OSError):
                    stream.close()
        self._stderr.close()

    def _stop(self) -> None:
        """Ask it to exit; SIGTERM, then SIGKILL, if it does not."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write('{"op": "exit"}\n')
                self._proc.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass
            deadline = time.monotonic() + GRACE_S
            for sig_action in (self._proc.terminate, self._proc.kill):
                try:
                    self._proc.wait(max(0.1, deadline - time.monotonic()))
                    break
                except subprocess.TimeoutExpired:
                    sig_action()
            else:
                self._proc.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
