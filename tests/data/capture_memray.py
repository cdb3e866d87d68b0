"""Regenerate the memray captures the parser tests read: ``python tests/data/capture_memray.py``.

A sibling of ``capture_tool_outputs.py`` for one reason: memray resolves native
symbols when a capture is *read*, from the ELF files at the paths the capture
recorded. A capture alone is therefore unreadable anywhere else (native frames
come out ``<unknown>``). So this script

1. copies the staged ``relwithdebinfo`` package to a fixed directory,
   ``OBJECT_ROOT`` (the same absolute path on every machine), and runs the
   canary snippets from there, under ``MemrayRunner``'s own LaunchSpec;
2. keeps each capture (``memray.bin``) and, once for all of them, the debug
   part of every project object the captures name (``objcopy --only-keep-debug``,
   location lists dropped, DWARF zlib-compressed: what libbacktrace needs for
   function, file, line and inlined frames), in ``captures/memray/objects/``;
3. records in ``MANIFEST.json`` the memray version, which recorded path each
   kept object stands for, sizes, times, and what the parser counted.

The tests link each kept object back to its recorded path before reading
(``tests/unit/test_parsers_memray.py``). The interpreter and system libraries are
read where the capture saw them; on this platform's image they are the same.
Captures are read by the memray version that wrote them (its file format is
versioned): after upgrading memray, rerun this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import memray  # noqa: E402

from pyharness import build, project  # noqa: E402
from pyharness.attribution import Policy  # noqa: E402
from pyharness.errors import ParseError  # noqa: E402
from pyharness.model import ParsedCell  # noqa: E402
from pyharness.parsers import memray as memray_parser  # noqa: E402
from pyharness.proc import LaunchSpec  # noqa: E402
from pyharness.runners.base import RunContext  # noqa: E402
from pyharness.runners.memray import CAPTURE_FILE, MemrayRunner  # noqa: E402

CAPTURES = Path(__file__).resolve().parent / "captures"
PROJECT = project.load(ROOT, search=False)  # this repository, as a project
DEST = CAPTURES / "memray"
OBJECTS = DEST / "objects"
# Fixed on purpose: a capture names its objects by absolute path, and the tests must
# be able to put them back there on any machine (a checkout's own path differs).
OBJECT_ROOT = Path("/tmp/pyharness-memray-capture")
# The interpreter that has memray: the virtualenv's, not its realpath (that one has no memray).
PYTHON = sys.executable
PROJECT_OBJECTS = ("_canaries",)
TIMEOUT_S = 120.0

SNIPPETS = {
    "leak": "import pyharness._canaries as c\nc.leak(4096)\n",
    "clean": "import pyharness._canaries as c\nc.clean()\n",
    # What grow() keeps stays reachable (a static vector of unique_ptr): memray sees it
    # still allocated when tracking stops; at the peak it is the largest project site.
    "growth": "import pyharness._canaries as c\nfor _ in range(8):\n    c.grow(64 * 1024)\n",
}
# The same leak in the aggregated format (--aggregate), to read both of memray's formats.
AGGREGATED = ("leak",)
# A subject killed before memray's tracker stopped: the capture is never finalised.
KILLED = {
    "killed": "import os, signal\nimport pyharness._canaries as c\nc.leak(4096)\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n",
}


def run(spec: LaunchSpec, cwd: Path) -> tuple[int, float]:
    start = time.monotonic()
    with open(spec.stderr_path or os.devnull, "wb") as err:
        proc = subprocess.run(
            spec.argv,
            env=dict(spec.env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=spec.timeout_s,
            check=False,
        )
    return proc.returncode, time.monotonic() - start


def native_seconds(script: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run([PYTHON, "-P", str(script)], env=env, cwd=script.parent, check=True)
    return time.monotonic() - start


def keep_debug_objects(site: Path) -> dict[str, str]:
    """The debug part of each project object, into OBJECTS; {recorded path: repo-relative copy}."""
    if OBJECTS.exists():
        shutil.rmtree(OBJECTS)
    OBJECTS.mkdir(parents=True)
    kept: dict[str, str] = {}
    for stem in PROJECT_OBJECTS:
        (so,) = (site / "pyharness").glob(f"{stem}.*.so")
        dest = OBJECTS / f"{so.name}.debug"
        subprocess.run(
            [
                "objcopy",
                "--only-keep-debug",
                "--remove-section=.debug_loclists",
                "--compress-debug-sections=zlib",
                str(so),
                str(dest),
            ],
            check=True,
        )
        kept[str(so)] = str(dest.relative_to(ROOT))
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.parse_args()
    staged = build.stage(PROJECT, "relwithdebinfo")
    assert staged.site_dir is not None  # meson-python: always staged
    policy = Policy.of(PROJECT, staged.objects)
    if OBJECT_ROOT.exists():
        shutil.rmtree(OBJECT_ROOT)
    site = OBJECT_ROOT / "site"
    shutil.copytree(staged.site_dir, site, symlinks=True)
    env = {**staged.env(), "PYTHONPATH": str(site)}
    runner = MemrayRunner()
    runner.check_available()

    manifest_path = CAPTURES / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    runs = manifest.setdefault("runs", {})
    snippets = {**SNIPPETS, **KILLED}
    cases = [(name, False) for name in snippets] + [(name, True) for name in AGGREGATED]
    for name, aggregated in cases:
        case = f"{name}_aggregated" if aggregated else name
        with tempfile.TemporaryDirectory(prefix=f"capture-memray-{case}-") as tmp:
            cell = Path(tmp)
            script = cell / "snippet.py"
            script.write_text(snippets[name])
            spec = runner.launch((PYTHON, "-P", str(script)), env, RunContext(cell, TIMEOUT_S, None))
            if aggregated:
                i = spec.argv.index("-o")
                spec = LaunchSpec(
                    (*spec.argv[:i], "--aggregate", *spec.argv[i:]),
                    spec.env,
                    spec.timeout_s,
                    spec.success_codes,
                    stderr_path=spec.stderr_path,
                    label=spec.label,
                )
            rc, seconds = run(spec, cell)
            killed = name in KILLED
            if (rc in spec.success_codes) == killed:
                raise SystemExit(f"memray/{case}: exit {rc}: {(cell / 'subject.stderr').read_text()[-2000:]}")
            parse_error = None
            try:
                parsed = memray_parser.make_parser().parse(cell)
            except ParseError as err:
                if not killed:
                    raise
                parse_error, parsed = str(err).replace(tmp, "<cell>"), ParsedCell(())
            findings = policy.attribute_all(parsed.findings)
            out = DEST / case
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            shutil.copyfile(cell / CAPTURE_FILE, out / CAPTURE_FILE)
            native = 0.0 if killed else native_seconds(script, env)
            argv = [Path(a).name if a == PYTHON else a.replace(tmp, "<cell>") for a in spec.argv]
        metrics = {m.name: m.value for m in parsed.metrics}
        runs[f"memray/{case}"] = {
            "argv": argv,
            "parse_error": parse_error,
            "exit_code": rc,
            "expected_exit": rc in spec.success_codes,
            "seconds": round(seconds, 2),
            "native_seconds": round(native, 3),
            "slowdown": round(seconds / native, 1) if native else None,
            "files": [CAPTURE_FILE],
            "bytes": (out / CAPTURE_FILE).stat().st_size,
            "leak_sites": int(metrics.get("leak_sites", 0)),
            "peak_memory": int(metrics.get("peak_memory", 0)),
            "counted": sorted(
                {f"{f.kind} @ {f.project_frame.where()}" for f in findings if f.counts and f.project_frame}
            ),
        }
        print(
            f"memray {case:18} exit {rc} {seconds:5.2f}s {runs[f'memray/{case}']['bytes']:7} B "
            f"counted: {runs[f'memray/{case}']['counted']}"
        )
    objects = keep_debug_objects(site)
    manifest["memray"] = {
        "version": memray.__version__,
        "object_root": str(OBJECT_ROOT),
        "objects": objects,
        "object_bytes": {path: (ROOT / rel).stat().st_size for path, rel in objects.items()},
    }
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    # The tests put the kept objects back themselves, as they must on any other machine.
    shutil.rmtree(OBJECT_ROOT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
