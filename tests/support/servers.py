"""The server under test: ``connectionpool-webhook serve`` as a child process, or run in this process.

``ServerProcess`` is the real thing a user starts. ``LiveServer`` runs the same application with ``serve``'s own
uvicorn settings in a thread, on loopback with verified TLS, and what it executes is visible to the test process: a
test can register one more webhook on the app it built, and mutation testing can see which tests reach which code.
``start_server`` picks the one `make test` or `make mutation` wants (tests/support/commands.py ``IN_PROCESS``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from tests.support.commands import IN_PROCESS
from tests.support.https import Client, free_port
from webhook import cli
from webhook.serve import server
from webhook.serve.app import create_app
from webhook.serve.logs import JSONFormatter
from webhook.serve.review import AdmissionFastPath


class ServerProcess:
    """`connectionpool-webhook serve` as a real child process."""

    def __init__(self, cert_dir: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None,
                 log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.cert_dir = cert_dir
        self.log_file = log_file or cert_dir / f"server-{self.port}.log"
        args = [sys.executable, "-m", "webhook", "serve", "--port", str(self.port),
                "--tls-cert", str(cert_dir / "tls.crt"), "--tls-key", str(cert_dir / "tls.key"), *extra]
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cert_dir,
                                     env={**os.environ, **(env or {})})

    def client(self, **kwargs: Any) -> Client:
        return Client(self.port, self.cert_dir / "ca.crt", **kwargs)

    def wait_ready(self, timeout: float = 20.0, **client_kwargs: Any) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                client = self.client(**client_kwargs)
                if client.request("GET", "/readyz").status == 200:
                    client.close()
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready:\n{self.logs()}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


class LiveServer:
    """``connectionpool-webhook serve ARGS`` as a thread; ``app`` is the application it serves."""

    def __init__(self, cert_dir: Path, *serve_args: str,
                 customize: Callable[[AdmissionFastPath], None] | None = None) -> None:
        self.cert_dir = cert_dir
        self.port = free_port()
        settings = cli.serve_settings(["--host", "127.0.0.1", "--port", str(self.port),
                                       "--tls-cert", str(cert_dir / "tls.crt"),
                                       "--tls-key", str(cert_dir / "tls.key"), *serve_args])
        self.apps: list[AdmissionFastPath] = []

        def factory(*args: Any) -> AdmissionFastPath:
            app = create_app(*args)
            if customize is not None:
                customize(app)
            self.apps.append(app)
            return app

        config = server.uvicorn_config(settings, factory)
        if os.environ.get("MUTANT_UNDER_TEST"):
            # Mutation testing forks a process that has run a server before, and libuv's thread pool (which
            # uvloop resolves the listening address with) does not survive a fork: the child would wait forever.
            config.loop = "asyncio"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"live-server-{self.port}", daemon=True)

    def start(self, timeout: float = 20.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        return self

    def client(self, **kwargs: Any) -> Client:
        return Client(self.port, self.cert_dir / "ca.crt", **kwargs)

    def stop(self) -> None:
        # uvicorn skips the app's shutdown (which stops the view of the cluster and its threads) when forced, so
        # force only what a failed test left hanging: the graceful drain is tested elsewhere.
        self.server.should_exit = True
        self.thread.join(5)
        self.server.force_exit = True
        self.thread.join(30)


def start_server(cert_dir: Path, *serve_args: str) -> ServerProcess | LiveServer:
    """``serve ARGS`` started and ready: a child process, or under `make mutation` a server in this process, for the
    tests that only send it requests."""
    if IN_PROCESS:
        return LiveServer(cert_dir, *serve_args).start()
    return ServerProcess(cert_dir, *serve_args).wait_ready()


class Lines(logging.Handler):
    """The admission log lines as the server's JSON formatter writes them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JSONFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextlib.contextmanager
def logged(server: LiveServer) -> Iterator[tuple[LiveServer, Lines]]:
    """``server`` started, with the lines of the ``webhook.admission`` log collected, and stopped afterwards."""
    lines = Lines()
    logger = logging.getLogger("webhook.admission")
    logger.addHandler(lines)
    server.start()
    try:
        yield server, lines
    finally:
        server.stop()
        logger.removeHandler(lines)
