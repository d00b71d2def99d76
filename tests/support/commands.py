"""``connectionpool-webhook ARGS`` as a user runs it, and certificates made by our own ``certs`` command."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

from tests.support import SERVICE_NAME

# `make mutation` sets this: the tests that take `client` then talk to the same server run in this process
# (tests/support/servers.py), and the command line runs in it too (``command``), where mutation testing can see
# which code they reach. `make test` uses child processes.
IN_PROCESS = os.environ.get("WEBHOOK_TESTS_IN_PROCESS") == "1"


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m webhook ARGS`` as a child process, always (tests marked ``process``)."""
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args], capture_output=True, text=True, check=False, **kwargs
    )


def command(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``connectionpool-webhook ARGS`` as a user runs it; under `make mutation`, in this process."""
    if IN_PROCESS:
        return cli_in_process(*args, input=input, cwd=cwd)
    return cli(*args, input=input, cwd=cwd)


def cli_in_process(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``cli`` run by this interpreter, for `make mutation`: a mutant is only seen by tests that reach it in the
    test process. Standard streams, the working directory and the exit status are what the child would have had."""
    from webhook import cli as command  # noqa: PLC0415

    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr, Path.cwd()
    code: Any = 0
    try:
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        if cwd is not None:
            os.chdir(cwd)
        command.main(list(args))
    except SystemExit as exc:
        code = exc.code
    except Exception:  # what the interpreter would do: a traceback on stderr, status 1
        traceback.print_exc(file=stderr)
        code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
    if code is None:
        code = 0
    elif not isinstance(code, int):  # SystemExit("message"): printed, status 1
        stderr.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(["connectionpool-webhook", *args], code, stdout.getvalue(), stderr.getvalue())


def make_certs(out_dir: Path, *names: str) -> Path:
    """Certificates from our own `certs` command, as a user would make them."""
    args = ["certs", "--out-dir", str(out_dir), "--ip", "127.0.0.1"]
    for name in names or (SERVICE_NAME, "localhost"):
        args += ["--dns-name", name]
    result = command(*args)
    assert result.returncode == 0, result.stderr
    return out_dir
