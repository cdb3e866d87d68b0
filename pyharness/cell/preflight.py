"""Before the tool runs: will the subject import the staged build, and has it its test dependencies?

One question to the subject's own interpreter (``pyharness.interpreter.ask``),
with the subject's interpreter options, in the cell's working directory and
environment (the staged variant's, the plan's additions; no tool), costs one
interpreter start and answers both:

- **shadowing**: each extension module the stage holds must resolve into the
  stage, as the subject would start (``sys.path[0]`` as ``-c``, ``-m`` or the
  script would set it; ``-P``/``PYTHONSAFEPATH`` honoured; the import hook
  of ``pyharness.build.stagehook`` active or not). When one does not (the
  hook cannot run under ``-S``, ``-E`` or ``-I``, and the working directory
  holds the package's sources), the cell errs before any tool runs, naming
  the module, the directory that shadows the stage and the fix: a run that
  would measure the sources' fallback, or fail to import, measures nothing.
- **test dependencies** (pytest cells): the workload's ``requires``, or else
  the project's ``test``/``tests`` extra and dependency group
  (``Project.test_requires``), and pytest itself,
  evaluated for that interpreter's markers. Missing ones are named with the
  pip command: an error under ``CI=true``, a warning otherwise (a local run
  may go on with what it has: pytest skips what it cannot import).

A preflight that finds nothing to ask (no extension staged, not a pytest
cell) starts nothing.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyharness import interpreter
from pyharness.build import Staged
from pyharness.cell.plan import CellPlan
from pyharness.errors import ConfigError, PreflightError
from pyharness.runners.memray import split_python_command

log = logging.getLogger("pyharness.cell")


@dataclass(frozen=True)
class Subject:
    """How the subject's interpreter starts: the executable, its options, its ``sys.path[0]``."""

    python: str
    options: tuple[str, ...]
    path0: str | None  # the script's folder for a script; None: as -c sets it (the working directory)


def subject_of(plan: CellPlan) -> Subject:
    """The interpreter the plan's command starts (the project's for a non-Python command)."""
    argv = plan.argv
    if argv and (argv[0] == plan.project.interpreter or interpreter.is_python(Path(argv[0]).name)):
        try:
            cmd = split_python_command(argv)
        except ConfigError:
            return Subject(argv[0], (), None)
        path0 = None
        if cmd.target and cmd.target[0] not in ("-m", "-c"):
            path0 = str((plan.cwd / cmd.target[0]).resolve().parent)
        return Subject(argv[0], cmd.options, path0)
    return Subject(plan.project.interpreter, (), None)


@dataclass(frozen=True)
class Outcome:
    """What the preflight found that does not stop the cell."""

    warnings: tuple[str, ...] = ()


def test_requirements(plan: CellPlan) -> tuple[str, ...]:
    """What a pytest cell's suite needs: the workload's ``requires``, else the project's test
    extra and group; pytest itself in either case. Nothing for a cell that is not a suite."""
    if plan.junit_path is None:
        return ()
    declared = plan.workload.requires
    if declared is None:
        declared = plan.project.test_requires
    named = {n.lower() for n in interpreter.names_of(declared)}
    return (*declared, *(() if "pytest" in named else ("pytest",)))


def check(plan: CellPlan, staged: Staged, env: Mapping[str, str], *, ci: bool) -> Outcome:
    """Ask the subject's interpreter; PreflightError when the cell cannot run as planned."""
    modules = sorted(staged.extensions) if staged.site_dir is not None else []
    requires = test_requirements(plan)
    if not modules and not requires:
        return Outcome()
    subject = subject_of(plan)
    answer = interpreter.ask(
        subject.python,
        env,
        names=interpreter.names_of(requires),
        modules=modules,
        options=subject.options,
        cwd=plan.cwd,
        path0=subject.path0,
    )
    shadowed = [_shadowed(name, answer, staged, subject, plan) for name in modules]
    problems = [p for p in shadowed if p is not None]
    if problems:
        raise PreflightError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    missing = answer.missing(requires, skip=(plan.project.name,))
    if not missing:
        return Outcome()
    command = shlex.join((subject.python, "-m", "pip", "install", *missing))
    what = (
        f"the test dependencies {', '.join(missing)} are not installed for {subject.python} "
        f"(the project's test extra or group, and pytest): install them with `{command}`"
    )
    if ci:
        raise PreflightError(what + " (CI=true: a suite without them would not test what it says)")
    log.warning("%s: %s", plan.id, what)
    return Outcome((what,))


def _shadowed(
    name: str, answer: interpreter.Answer, staged: Staged, subject: Subject, plan: CellPlan
) -> str | None:
    assert staged.site_dir is not None
    stage = os.path.realpath(staged.site_dir)
    got = answer.modules.get(name)
    origin = got.origin if got is not None else None
    if origin is not None and os.path.realpath(origin).startswith(stage + os.sep):
        return None
    top = got.top if got is not None else None
    shadow = _folder_of(top, name) if top else None
    missing = got.missing if got is not None else None
    if origin:
        found = f"resolves to {origin}"
    else:
        found = "is not found" + (f" ({missing} is missing)" if missing not in (None, name) else "")
    where = f", the package being found in {shadow} ahead of the stage {stage}" if shadow else ""
    why = _why_no_hook(answer, subject)
    return (
        f"the staged {staged.variant} build would not be imported: `{name}` {found}{where}, in "
        f"`{shlex.join((subject.python, *subject.options))}` run from {plan.cwd}{why}. Fix: {_fix(answer)}"
    )


def _folder_of(top: str, name: str) -> str:
    """The sys.path entry a top-level package was found in (its __init__.py's grandparent)."""
    path = Path(top)
    if path.name.startswith("__init__."):
        path = path.parent
    return str(path.parent if path.name == name.split(".", maxsplit=1)[0] else path)


def _why_no_hook(answer: interpreter.Answer, subject: Subject) -> str:
    if answer.hook:
        return ""
    if answer.flags.get("isolated") or answer.flags.get("ignore_environment"):
        return (
            "; with -I or -E the interpreter ignores PYTHONPATH, so neither the stage nor its import "
            "hook is seen"
        )
    if answer.flags.get("no_site"):
        return "; with -S there is no site module, so the import hook (a sitecustomize) never runs"
    return "; pyharness's import hook did not install itself (is another sitecustomize failing?)"


def _fix(answer: interpreter.Answer) -> str:
    if answer.flags.get("isolated") or answer.flags.get("ignore_environment") or answer.flags.get("no_site"):
        return (
            "drop -I, -E and -S from the command, or run it from a directory that does not hold the "
            "package's sources (the workload's `cwd`)"
        )
    return (
        "run the command from a directory that does not hold the package's sources (the workload's "
        "`cwd`), or add -P to a `python -c`/`-m` command"
    )
