"""ConnectionPool manifests as people write them, and ``check`` run on them as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.commands import command

HEAD = "apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\n"
SPEC = "  databaseName: defaultdb\n  project: my-project\n  serviceName: my-pg\n  username: avnadmin\n"


def manifest(name: str = "my-pool", extra: str = "", spec: str = SPEC, namespace: str | None = None) -> str:
    meta = f"metadata:\n  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
    return HEAD + meta + "spec:\n" + spec + extra


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``connectionpool-webhook check ARGS``."""
    return command("check", *args, input=stdin, cwd=cwd)


def run_json(*args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    """``check ARGS --output json``: the exit status and the report."""
    result = run(*args, "--output", "json", stdin=stdin)
    return result.returncode, json.loads(result.stdout)
