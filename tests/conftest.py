"""Fixtures every folder shares (the certificates, the shared server, a client of it, the stand-in apiserver's
certificates and kubeconfig), and the checks that keep the
markers honest: `make mutation` selects its tests by marker (see pyproject.toml), so a test that needs what the
mutation run cannot give it must say so.

- ``property``: every hypothesis test carries it (checked at collection, always).
- ``process`` and ``helm``: under `make mutation` (``WEBHOOK_TESTS_IN_PROCESS=1``), a test that starts a child
  process or calls Helm without the marker fails, saying which marker it lacks. `make test` checks nothing here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import IN_PROCESS, make_certs
from tests.support.fake_apiserver import FakeApiserver, audited_cluster
from tests.support.https import Client
from tests.support.servers import LiveServer, ServerProcess


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and serving certificate for connectionpool-webhook.webhooks.svc, made by our `certs` command."""
    return make_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in apiserver's certificates (tests/support/fake_apiserver.py), for localhost and 127.0.0.1."""
    return make_certs(tmp_path_factory.mktemp("apiserver-certs"), "localhost")


@pytest.fixture
def apiserver(certs: Path) -> Iterator[FakeApiserver]:
    """The stand-in apiserver holding the audit tests' cluster (``audited_cluster``) and the Secrets it names; a
    module that needs another cluster defines its own."""
    with FakeApiserver(certs, audited_cluster()) as server:
        server.put_tokens()
        yield server


@pytest.fixture
def kubeconfig(apiserver: FakeApiserver, certs: Path, tmp_path: Path) -> Path:
    """A kubeconfig for the module's ``apiserver`` fixture (each module that reads a cluster defines its own)."""
    return apiserver.kubeconfig(tmp_path / "kubeconfig", certs / "ca.crt")


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


# --- the markers, checked -----------------------------------------------------------------------------------------

_running: list[pytest.Item] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
                and item.get_closest_marker("property") is None]
    if unmarked:
        raise pytest.UsageError("hypothesis tests must be marked `property`: " + ", ".join(unmarked))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _running[:] = [item]  # before its fixtures are set up: a shared server started for it counts as its own


def _require(marker: str, doing: str) -> None:
    if _running and _running[0].get_closest_marker(marker) is None:
        raise AssertionError(f"{_running[0].nodeid} {doing} but is not marked `{marker}`: `make mutation` runs the "
                             f"tests not marked {marker} in one process it forks for each mutant")


def pytest_configure(config: pytest.Config) -> None:
    if not IN_PROCESS:
        return
    import helm_python  # noqa: PLC0415 - only `make mutation` watches it

    spawn = subprocess.Popen.__init__

    def watched_spawn(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        _require("process", "starts a child process")
        spawn(self, *args, **kwargs)

    subprocess.Popen.__init__ = watched_spawn  # type: ignore[method-assign]
    for owner, name in ((helm_python, "lint"), (helm_python.Chart, "load")):
        call = getattr(owner, name)

        def watched_helm(*args: Any, _call: Any = call, **kwargs: Any) -> Any:
            _require("helm", "calls Helm (whose Go runtime does not survive a fork)")
            return _call(*args, **kwargs)

        setattr(owner, name, watched_helm)
