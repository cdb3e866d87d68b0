"""Regenerate the real tool outputs the parser tests read: ``python tests/data/capture_tool_outputs.py``.

Builds and stages the variants the tools need, runs small Python snippets
(each canary, and a clean server/client exchange) under ASan, TSan, Valgrind
and heaptrack with the runners' own LaunchSpecs, and copies the artifacts into
``tests/data/captures/<tool>/<snippet>/``. TSan also runs the native cases of
``tests/data/tsan_cases.cpp`` (a lock-order inversion, a thread leak, a
signal-unsafe call), compiled here with ``-fsanitize=thread``: thread defects
that are not the canaries' business. Per-pid file names become stable
ones (``asan.log``, ``tsan.log``, ``valgrind.xml``); heaptrack_print text is gzipped because
even an idle interpreter leaves a few hundred KB of leak sites. Nothing here is
edited by hand: rerun the script after changing a canary, a runner or a tool.
``MANIFEST.json`` records exit codes, durations, slowdowns against the plain
variant and what the parsers counted (the detection table as measured).

memray's captures come from the sibling ``capture_memray.py`` (they need the
objects they name kept beside them), into the same MANIFEST.

This script spawns the tools with ``subprocess`` directly; the harness's own
gateway (timeouts, RSS sampling) is not needed for captures.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pyharness import build, project  # noqa: E402
from pyharness.attribution import Policy  # noqa: E402
from pyharness.errors import ParseError  # noqa: E402
from pyharness.matrix import TOOLS  # noqa: E402
from pyharness.model import Finding, ParsedCell  # noqa: E402
from pyharness.parsers import asan as asan_parser  # noqa: E402
from pyharness.parsers import heaptrack as heaptrack_parser  # noqa: E402
from pyharness.parsers import tsan as tsan_parser  # noqa: E402
from pyharness.parsers import valgrind as valgrind_parser  # noqa: E402
from pyharness.proc import LaunchSpec  # noqa: E402
from pyharness.runners import tsan as tsan_runner  # noqa: E402
from pyharness.runners.asan import AsanRunner  # noqa: E402
from pyharness.runners.base import RunContext, Runner  # noqa: E402
from pyharness.runners.heaptrack import HeaptrackRunner  # noqa: E402
from pyharness.runners.valgrind import ValgrindRunner  # noqa: E402

CAPTURES = Path(__file__).resolve().parent / "captures"
PROJECT = project.load(ROOT, search=False)  # this repository, as a project
# The project's own suppressions (the runners add the toolkit's themselves).
SUPPRESSIONS = ROOT / "suppressions"
# The real interpreter, not a pyenv shim: a shim is a shell script, and the
# tool would then profile bash (LSan reported bash's own leaks that way).
PYTHON = os.path.realpath(sys.executable)

CLEAN = """\
import pyharness._canaries as canaries
from pyharness._netcore import MessagingClient, MessagingServer

canaries.clean()
server = MessagingServer("capture", echo=True)
port = server.start()
client = MessagingClient("capture-client")
client.connect("127.0.0.1", port, timeout=30.0)
for i in range(8):
    client.send(bytes([i]) * 1024)
client.flush(timeout=30.0)
server.wait_for(messages=8, timeout=60.0)
stats = server.stats()
assert stats["messages_received"] == 8 and stats["bytes_received"] == 8 * 1024, stats
client.disconnect()
server.stop()
del client, server
"""

SNIPPETS = {
    "leak": "import pyharness._canaries as c; c.leak(4096)",
    "heap_overflow_read": "import pyharness._canaries as c; c.heap_overflow_read()",
    "use_after_free": "import pyharness._canaries as c; c.use_after_free()",
    "uninitialised_branch": "import pyharness._canaries as c; c.uninitialised_branch()",
    "signed_overflow": "import pyharness._canaries as c; c.signed_overflow(5)",
    "race": "import pyharness._canaries as c; c.race(10000)",
    "clean": CLEAN,
}
RUNNERS: dict[str, Runner] = {
    "asan": AsanRunner(),
    "tsan": tsan_runner.make_runner(),
    "valgrind": ValgrindRunner(),
    "heaptrack": HeaptrackRunner(),
}
PARSERS: dict[str, Callable[[Path], ParsedCell]] = {
    "asan": asan_parser.make_parser().parse,
    "tsan": tsan_parser.make_parser().parse,
    "valgrind": valgrind_parser.make_parser().parse,
    "heaptrack": heaptrack_parser.make_parser().parse,
}
# A runtime refusal the tsan parser must turn into an error, not silence: a thread
# started in a child forked from a process that had threads (no exec in between).
FORK_AFTER_THREADS = """\
import os
import threading

stop = threading.Event()
waiter = threading.Thread(target=stop.wait)
waiter.start()
pid = os.fork()
if pid == 0:
    child = threading.Thread(target=lambda: None)
    child.start()
    child.join()
    os._exit(0)
os.waitpid(pid, 0)
stop.set()
waiter.join()
"""
# Snippets run under one tool only.
TOOL_SNIPPETS = {"tsan": {"fork_after_threads": FORK_AFTER_THREADS}}
# Native programs, one case each, run under TSan only: name -> (source, argument).
NATIVE_CASES = {
    "lock_order": ("tests/data/tsan_cases.cpp", "lock_order"),
    "thread_leak": ("tests/data/tsan_cases.cpp", "thread_leak"),
    "signal_unsafe": ("tests/data/tsan_cases.cpp", "signal_unsafe"),
}
NATIVE_TOOLS = frozenset({"tsan"})
TIMEOUT_S = 60.0
GZIP_ABOVE = 64 * 1024


def run(spec: LaunchSpec) -> tuple[int, float]:
    """Run one spec; return its exit code and wall time."""
    env = dict(spec.env)
    start = time.monotonic()
    with (
        open(spec.stdout_path or os.devnull, "wb") as out,
        open(spec.stderr_path or os.devnull, "wb") as err,
    ):
        proc = subprocess.run(
            spec.argv, env=env, cwd=spec.cwd, stdout=out, stderr=err, timeout=spec.timeout_s, check=False
        )
    return proc.returncode, time.monotonic() - start


def copy_artifacts(tool: str, cell: Path, dest: Path) -> list[str]:
    """Copy the parser-relevant artifacts under stable names."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    names: list[str] = []
    if tool in ("asan", "tsan"):
        logs = sorted(cell.glob(f"{tool}.*"))
        for i, log in enumerate(logs):
            name = f"{tool}.log" if len(logs) == 1 else f"{tool}.{i}.log"
            shutil.copyfile(log, dest / name)
            names.append(name)
        stderr = cell / "subject.stderr"
        if stderr.is_file() and stderr.stat().st_size:
            shutil.copyfile(stderr, dest / "subject.stderr")
            names.append("subject.stderr")
        if not names:
            # A clean run leaves no report; git keeps no empty directory, so say so in a file.
            what = "ASan, LSan and UBSan" if tool == "asan" else "ThreadSanitizer"
            (dest / "NO_REPORT").write_text(f"{what} wrote no report for this run.\n")
            names.append("NO_REPORT")
    elif tool == "valgrind":
        xmls = sorted(cell.glob("valgrind.*.xml"))
        for i, xml in enumerate(xmls):
            name = "valgrind.xml" if len(xmls) == 1 else f"valgrind.{i}.xml"
            shutil.copyfile(xml, dest / name)
            names.append(name)
    else:
        for txt in ("heaptrack.txt", "heaptrack-leaks.txt"):
            data = (cell / txt).read_bytes()
            if len(data) > GZIP_ABOVE:
                # mtime=0: the same text gives the same bytes, so reruns show no spurious diff.
                (dest / f"{txt}.gz").write_bytes(gzip.compress(data, mtime=0))
                names.append(f"{txt}.gz")
            else:
                (dest / txt).write_bytes(data)
                names.append(txt)
    return names


def findings_of(tool: str, cell: Path, policy: Policy) -> list[Finding]:
    """Every finding the tool's parser reads from the cell, attributed by the project's policy."""
    return list(policy.attribute_all(PARSERS[tool](cell).findings))


def compile_native(source: str, out: Path, *flags: str) -> Path:
    """Build one native case (from the checkout root, so its frames say ``tests/data/...``)."""
    cmd = ["g++", "-std=c++17", "-O1", "-g", "-fno-omit-frame-pointer", *flags, source, "-o", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tool", action="append", choices=sorted(RUNNERS), help="only these tools")
    extra = {name: text for by_tool in TOOL_SNIPPETS.values() for name, text in by_tool.items()}
    cases = sorted({*SNIPPETS, *extra, *NATIVE_CASES})
    parser.add_argument(
        "--snippet", action="append", choices=cases, help="only these snippets or native cases"
    )
    args = parser.parse_args()
    tools = args.tool or list(RUNNERS)
    snippets = [n for n in (args.snippet or [*SNIPPETS, *extra]) if n in SNIPPETS or n in extra]
    texts = {**SNIPPETS, **extra}
    natives = [n for n in (args.snippet or NATIVE_CASES) if n in NATIVE_CASES]

    staged = {v: build.stage(PROJECT, v) for v in ("plain", *sorted({TOOLS[t].variant for t in tools}))}
    manifest_path = CAPTURES / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest["python"] = sys.version.split()[0]
    runs = manifest.setdefault("runs", {})

    with tempfile.TemporaryDirectory(prefix="capture-bin-") as bin_tmp:
        bins = Path(bin_tmp)
        sources = sorted({source for source, _ in NATIVE_CASES.values()}) if natives else []
        plain_bin = {src: compile_native(src, bins / f"{Path(src).stem}-plain") for src in sources}
        tsan_bin = {
            src: compile_native(src, bins / f"{Path(src).stem}-tsan", "-fsanitize=thread") for src in sources
        }

        native: dict[str, float] = {}
        for name in snippets:
            with tempfile.TemporaryDirectory(prefix="capture-native-") as tmp:
                rc, native[name] = run(
                    LaunchSpec((PYTHON, "-c", texts[name]), staged["plain"].env(), TIMEOUT_S, cwd=Path(tmp))
                )
        for name in natives:
            source, arg = NATIVE_CASES[name]
            rc, native[name] = run(LaunchSpec((str(plain_bin[source]), arg), {}, TIMEOUT_S))

        for tool in tools:
            runner = RUNNERS[tool]
            runner.check_available()
            variant = TOOLS[tool].variant
            policy = Policy.of(PROJECT, staged[variant].objects)
            mine = [n for n in snippets if n in SNIPPETS or n in TOOL_SNIPPETS.get(tool, {})]
            for name in [*mine, *(natives if tool in NATIVE_TOOLS else [])]:
                with tempfile.TemporaryDirectory(prefix=f"capture-{tool}-{name}-") as tmp:
                    cell = Path(tmp)
                    if name in texts:
                        # A script file, not `-c`: heaptrack cannot record a multi-line argument.
                        script = cell / "snippet.py"
                        script.write_text(texts[name])
                        subject: tuple[str, ...] = (PYTHON, str(script))
                    else:
                        source, arg = NATIVE_CASES[name]
                        subject = (str(tsan_bin[source]), arg)
                    ctx = RunContext(cell, TIMEOUT_S, SUPPRESSIONS)
                    spec = runner.launch(subject, staged[variant].env(), ctx)
                    # Not the checkout: the source tree's pyharness (no compiled extensions)
                    # must never shadow the staged one.
                    spec = dataclasses.replace(spec, cwd=cell)
                    rc, seconds = run(spec)
                    for followup in runner.followups(ctx):
                        frc, _ = run(followup.spec)
                        if frc != 0 and followup.required:
                            raise SystemExit(
                                f"{followup.spec.label} failed with exit {frc} for {tool}/{name}"
                            )
                    files = copy_artifacts(tool, cell, CAPTURES / tool / name)
                    try:
                        found = findings_of(tool, cell, policy)
                        parse_error = None
                    except ParseError as err:  # a runtime refusal is captured on purpose
                        found, parse_error = [], str(err).replace(str(cell), "<cell>")
                entry = {
                    "exit_code": rc,
                    "expected_exit": rc in spec.success_codes,
                    "seconds": round(seconds, 2),
                    "native_seconds": round(native[name], 3),
                    "slowdown": round(seconds / native[name], 1),
                    "files": files,
                    "counted": sorted(
                        {
                            f"{f.kind} @ {f.project_frame.where()}"
                            for f in found
                            if f.counts and f.project_frame
                        }
                    ),
                }
                if parse_error is not None:
                    entry["parse_error"] = parse_error
                if tool in NATIVE_TOOLS:
                    # The native cases' code is not the project's: what was reported, counted or not.
                    entry["reported"] = sorted({f.kind for f in found})
                runs[f"{tool}/{name}"] = entry
                print(
                    f"{tool:9} {name:22} exit {rc:3} {seconds:6.2f}s x{entry['slowdown']:<6} "
                    f"counted: {entry['counted']}"
                )
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
