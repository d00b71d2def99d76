"""``make mutation``: mutation testing of the modules that decide answers, with mutmut 3.

Each mutant is a one-line change of the code (a flipped comparison, a changed constant, a dropped argument); a test
run that still passes with it in place has "survived", which means no test looks at what that line does. The score
is the share of mutants killed.

The run happens in a scratch copy (``.mutation/``, kept between runs so that mutmut re-tests only what changed), so
the working tree is never touched. It takes two passes:

1. every mutant, each in a process forked from one that has already run the tests once (fast). Such a process
   keeps what ``webhook`` computed at import time (the checks compiled from the schema), so a mutant of that code
   only shows where a test runs it again (tests/rules/test_schema.py compiles its own schemas); webhook's caches are
   emptied before each test (this module is also the pytest plugin that does it).
2. every survivor again, in a fresh process that imports ``webhook`` with the mutant in place: only what survives
   both is reported.

Only tests that run the code in the test process can kill a mutant (mutmut learns which tests reach which function
by tracing calls in that process), so with ``WEBHOOK_TESTS_IN_PROCESS=1`` the tests that take the ``client`` fixture
talk to the server run in this process (tests/conftest.py, tests/support/servers.py) and ``command`` runs the command
line in it (tests/support/commands.py). ``--tests`` are pytest's arguments that pick the tests: by default every test
under tests/ that is marked none of ``slow``, ``helm`` (Helm's Go runtime does not survive a fork), ``process`` (its
child processes are out of mutmut's sight) or ``property`` (hypothesis: slow, and random); pyproject.toml registers
the markers and tests/conftest.py checks them under this run.

Usage: python hack/mutation.py --modules "webhook/a.py webhook/b.py" [--tests 'tests -m "not slow"'] [--workers 2]

This module is also the pytest plugin of those runs (``-p hack.mutation``).
"""

from __future__ import annotations

import argparse
import collections
import functools
import gc
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# MUTATION_SCRATCH: another directory, for a second run beside the first.
SCRATCH = Path(os.environ.get("MUTATION_SCRATCH") or ROOT / ".mutation").resolve()
# Imported once by the second pass's fork server, so that each mutant's process need not: the heavy libraries.
PRELOAD = ["pytest", "hypothesis", "jsonschema", "jsonpatch", "yaml", "msgspec", "orjson", "pydantic", "fastapi",
           "starlette", "uvicorn", "uvloop", "httptools", "cryptography.x509", "prometheus_client", "ssl", "asyncio"]

KILLED = {"killed", "timeout", "caught by type check", "segfault"}
# The tests a mutant's run can use: in-process, fast and deterministic (see the module's docstring).
TESTS = 'tests -m "not slow and not helm and not process and not property"'
# What the tests read besides themselves: the chart (tests of what it renders), bench/ (tests of the benchmark's
# arithmetic import it), this plugin; README.md (test_docs, the policy command's example), the Makefile (the set-up
# commands), the pre-commit hook's definition, the Dockerfile and its .dockerignore.
TREES = ("webhook", "tests", "charts", "bench", "hack")
FILES = ("pyproject.toml", "README.md", "Makefile", ".pre-commit-hooks.yaml", "Dockerfile", ".dockerignore")


_CACHES: list[Any] = []


def pytest_collection_finish(session: Any) -> None:
    """pytest plugin hook (``-p hack.mutation``): find webhook's cached functions, once its modules are imported."""
    _CACHES[:] = [obj for obj in gc.get_objects() if isinstance(obj, functools._lru_cache_wrapper)
                  and getattr(obj, "__module__", "").startswith("webhook")]


def pytest_runtest_setup(item: Any) -> None:
    """Before each test of a mutation run, forget what webhook's cached functions computed: with a mutant in place,
    so that a cached function's mutant is called at all; while mutmut learns which tests reach which function, so
    that a test is seen to reach the functions whose results an earlier test had cached."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        for cached in _CACHES:
            cached.cache_clear()


def sync(modules: list[str], tests: list[str]) -> None:
    """The scratch copy: the package, the tests (tests/data and tests/go with them) and what they read."""
    SCRATCH.mkdir(exist_ok=True)
    for name in TREES:
        target = SCRATCH / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ROOT / name, target, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis", "results"))
    for name in FILES:
        shutil.copy2(ROOT / name, SCRATCH / name)
    # mutmut learns which tests reach which function only for tests it has not seen before: an edited test would
    # keep the reach it had, and the survivors retried below would not be run against what it now checks. So every
    # run learns the reach of every test again (a run of the selected tests, about a minute).
    (SCRATCH / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    (SCRATCH / "preload.txt").write_text("\n".join(PRELOAD) + "\n")
    configure(modules, tests, fresh_imports=False)


def configure(modules: list[str], tests: list[str], fresh_imports: bool) -> None:
    """mutmut's settings: which modules, which tests, and how each mutant's process starts."""
    indent = "\n    "
    isolation = "process_isolation = fork\n"
    if fresh_imports:
        isolation = ("process_isolation = forkserver\nforkserver_warmup = import\n"
                     f"preload_modules_file = {SCRATCH / 'preload.txt'}\n")
    (SCRATCH / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = webhook\n"
        f"only_mutate ={indent}{indent.join(modules)}\n"
        f"pytest_add_cli_args_test_selection ={indent}{indent.join(tests)}\n"
        f"pytest_add_cli_args ={indent}-p{indent}no:cacheprovider{indent}-p{indent}no:timeout"
        f"{indent}-p{indent}hack.mutation\n"
        # into mutmut's own copy, beside the tests (which it copies itself, with pyproject.toml)
        f"also_copy ={indent}{indent.join(name for name in (*TREES, *FILES) if name not in ('webhook', 'tests'))}\n"
        "use_git_change_detection = false\n"
        # A mutant's tests run in a new process (pass 2) or collect again (pass 1): allow for that, but a mutant
        # that hangs (a server that never answers) is a kill, and need not be waited for long.
        "timeout_constant = 10\n"
        "timeout_multiplier = 4\n"
        + isolation
    )


def run_mutmut(workers: int, log: Path, names: tuple[str, ...] = ()) -> int:
    mutmut = Path(sys.executable).parent / "mutmut"
    # The tests that take the `client` fixture talk to the server in this process (tests/conftest.py).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "WEBHOOK_TESTS_IN_PROCESS": "1"}
    with log.open("ab") as out:
        return subprocess.run([str(mutmut), "run", "--max-children", str(workers), *names], cwd=SCRATCH,
                              stdout=out, stderr=subprocess.STDOUT, env=env, check=False).returncode


def results(modules: list[str]) -> dict[str, dict[str, str]]:
    """Mutant name -> status, per module, from mutmut's result files."""
    statuses = json.loads(subprocess.run(
        [sys.executable, "-c", _STATUS_DUMP], cwd=SCRATCH, capture_output=True, text=True, check=True).stdout)
    per_module: dict[str, dict[str, str]] = {m: {} for m in modules}
    for name, status in statuses.items():
        # webhook.rules.schema.x_function__mutmut_3, webhook.rules.schema.xǁClassǁmethod__mutmut_3
        parts = name.split(".")
        cut = next(i for i, part in enumerate(parts) if part.startswith(("x_", "xǁ")))
        path = "/".join(parts[:cut]) + ".py"
        if path in per_module:
            per_module[path][name] = status
    return per_module


# Read by a separate interpreter in the scratch directory, where mutmut finds its results.
_STATUS_DUMP = """
import json
from mutmut.__main__ import walk_mutatable_files, SourceFileMutationData
from mutmut.stats import status_by_exit_code
out = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for key, code in data.exit_code_by_key.items():
        out[key] = status_by_exit_code[code]
print(json.dumps(out))
"""


def show(name: str) -> str:
    mutmut = Path(sys.executable).parent / "mutmut"
    diff = subprocess.run([str(mutmut), "show", name], cwd=SCRATCH, capture_output=True, text=True, check=False)
    lines = [line for line in diff.stdout.splitlines() if line.startswith(("+", "-")) and
             not line.startswith(("+++", "---"))]
    return "\n".join("      " + line for line in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", required=True, help="space-separated module paths (missing ones are skipped)")
    parser.add_argument("--tests", default=TESTS, help=f"pytest's arguments that pick the tests (default: {TESTS})")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 below this score (percent)")
    args = parser.parse_args()
    modules = [m for m in args.modules.split() if (ROOT / m).is_file()]
    missing = [m for m in args.modules.split() if m not in modules]
    tests = shlex.split(args.tests)
    if not modules:
        parser.error("none of --modules exists")

    started = time.monotonic()
    sync(modules, tests)
    log = SCRATCH / "mutmut.log"
    log.write_bytes(b"")
    print(f"mutation testing {' '.join(modules)}; log in {log}", flush=True)
    code = run_mutmut(args.workers, log)
    first = time.monotonic() - started
    if code == 0:
        # mutmut keeps a verdict until the function changes, not when tests do: what escaped an earlier run is
        # tried again here, with today's tests. So is a crash of a forked child: a library's threads do not
        # survive a fork, and a crash there says nothing about the mutant.
        survivors = [name for statuses in results(modules).values() for name, status in statuses.items()
                     if status in ("survived", "no tests", "segfault")]
        print(f"pass 1 done in {first / 60:.1f} minutes; {len(survivors)} survivors and crashes to retry with "
              "fresh imports", flush=True)
        if survivors:
            configure(modules, tests, fresh_imports=True)
            code = run_mutmut(args.workers, log, tuple(survivors))
    elapsed = time.monotonic() - started
    if code != 0:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        print(f"mutmut failed (exit {code}); its output is in {log}", file=sys.stderr)
        return 2

    per_module = results(modules)
    total_killed = total = 0
    survivors = []
    print(f"\nmutation testing: {len(modules)} modules, tests {shlex.join(tests)}")
    if missing:
        print(f"(not there yet, skipped: {' '.join(missing)})")
    print(f"\n{'module':32} {'mutants':>8} {'killed':>8} {'survived':>9} {'no tests':>9} {'score':>7}")
    for module, statuses in per_module.items():
        counts = collections.Counter(statuses.values())
        killed = sum(counts[s] for s in KILLED)
        score = 100.0 * killed / len(statuses) if statuses else 100.0
        print(f"{module:32} {len(statuses):8} {killed:8} {counts['survived']:9} {counts['no tests']:9} {score:6.1f}%")
        total_killed += killed
        total += len(statuses)
        survivors += sorted(name for name, status in statuses.items() if status not in KILLED)
    score = 100.0 * total_killed / total if total else 100.0
    print(f"{'total':32} {total:8} {total_killed:8} {'':9} {'':9} {score:6.1f}%")

    if survivors:
        print(f"\nsurviving mutants ({len(survivors)}); `cd {SCRATCH} && mutmut show NAME` shows one again:")
        for name in survivors:
            status = next(s[name] for s in per_module.values() if name in s)
            print(f"  {name} ({status})")
            print(show(name))
    print(f"\nscore {score:.1f}% ({total_killed} of {total} mutants killed) in {elapsed / 60:.1f} minutes")
    return 1 if score < args.min_score else 0


if __name__ == "__main__":
    sys.exit(main())
