from __future__ import annotations

from collections.abc import Iterator
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
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    source: ServerProcess | LiveServer = request.getfixturevalue("live_server" if IN_PROCESS else "server")
    c = source.client()
    yield c
    c.close()
