from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.commands import IN_PROCESS, make_certs
from tests.support.https import Client
from tests.support.servers import LiveServer, ServerProcess


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and serving certificate for connectionpool-webhook.webhooks.svc, made by our `certs` command."""
    return make_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def server(pki: Path) -> Iterator[ServerProcess]:
    """One real server process on loopback, shared by the tests that only send requests."""
    proc = ServerProcess(pki, "--log-format", "json").wait_ready()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def live_server(pki: Path) -> Iterator[LiveServer]:
    """The server of ``server``, run in this process."""
    live = LiveServer(pki, "--log-format", "json").start()
    yield live
    live.stop()


@pytest.fixture
def serving(request: pytest.FixtureRequest) -> ServerProcess | LiveServer:
    """The shared server: ``server``, or under `make mutation` (``IN_PROCESS``) ``live_server``."""
    source: ServerProcess | LiveServer = request.getfixturevalue("live_server" if IN_PROCESS else "server")
    return source


@pytest.fixture
def client(serving: ServerProcess | LiveServer) -> Iterator[Client]:
    """A kept-alive connection to the shared server."""
    c = serving.client()
    yield c
    c.close()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers of their own (``fresh_server(*serve_args)``), so counters start at zero and logs hold only
    this test's lines; stopped after the test."""
    servers: list[ServerProcess] = []

    def start(*args: str, cert_dir: Path | None = None) -> ServerProcess:
        server = ServerProcess(cert_dir or make_certs(tmp_path / f"pki{len(servers)}"), *args).wait_ready()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
