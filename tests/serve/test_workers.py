"""``--workers N``: a listening socket per worker, so connections arriving together are spread over the workers."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, SERVICE_NAME
from tests.support.commands import cli
from tests.support.https import client_context, free_port
from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.process]

SERVING = re.compile(r"worker (\d+) serving https://")
BODY = json.dumps(review(pool())).encode()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def serving_pids(server: ServerProcess) -> list[int]:
    """Workers that have started serving, in the order they did (a replaced worker stays in the list)."""
    return [int(m.group(1)) for m in SERVING.finditer(server.logs())]


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


@pytest.fixture
def two_workers(pki: Path, metrics_dir: Path) -> Iterator[ServerProcess]:
    """A --workers 2 server whose workers publish their request counts to ``metrics_dir``; both serving."""
    server = ServerProcess(pki, "--workers", "2", env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    try:
        server.wait_ready()
        # Ready means one worker answers; the other may not be listening yet, and would then get no connections.
        wait_for(lambda: len(serving_pids(server)) == 2)
        yield server
    finally:
        server.stop()


def requests_per_worker(metrics_dir: Path, expected_total: int) -> dict[int, int]:
    """Answered requests per worker pid, from the snapshots the workers publish every second."""

    def read() -> dict[int, int] | None:
        served = {}
        for path in metrics_dir.glob("requests_*.json"):
            snapshot = json.loads(path.read_text())
            served[int(path.stem.split("_")[1])] = sum(row[-1] for row in snapshot["counts"])
        return served if sum(served.values()) == expected_total else None

    return wait_for(read)  # type: ignore[no-any-return]


def dial(server: ServerProcess, count: int) -> list[socket.socket]:
    """``count`` TCP connections, opened at once as the apiserver fills its connection pool."""
    return [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(count)]


def validate_on(server: ServerProcess, raw: list[socket.socket]) -> None:
    """TLS on each of these connections, then one review on each."""
    context = client_context(server.cert_dir / "ca.crt")
    connections = []
    for sock in raw:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.sock = context.wrap_socket(sock, server_hostname=SERVICE_NAME)
        connections.append(connection)
    for connection in connections:
        connection.request("POST", "/validate", BODY, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and b'"allowed":true' in response.read()
        connection.close()


@pytest.mark.slow
def test_each_worker_gets_its_share_of_a_burst_of_connections(two_workers: ServerProcess, metrics_dir: Path) -> None:
    """The kernel gives each connection to one worker's socket as it arrives, so the worker that happens to run first
    cannot take the others' share: with one shared socket it did (uvloop accepts until the queue is empty), and
    keep-alive connections never move."""
    first, second = serving_pids(two_workers)
    for pid in (first, second):
        os.kill(pid, signal.SIGSTOP)
    try:
        raw = dial(two_workers, 24)
        os.kill(first, signal.SIGCONT)
        time.sleep(0.5)  # time enough for `first` to accept every connection it can
    finally:
        for pid in (first, second):
            os.kill(pid, signal.SIGCONT)
    validate_on(two_workers, raw)
    served = requests_per_worker(metrics_dir, 24)
    # Spread by a hash of the addresses: all 24 on one worker has a probability of 2**-23.
    assert sorted(served) == sorted((first, second))
    assert all(n > 0 for n in served.values()), served


def test_sigterm_answers_requests_in_flight_on_every_worker_then_exits_0(two_workers: ServerProcess) -> None:
    head = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY))
    socks = [two_workers.client().connect() for _ in range(8)]  # all on one worker: 2**-7
    for sock in socks:
        sock.sendall(head + BODY[:100])
    time.sleep(0.3)
    two_workers.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(OSError):  # every worker has stopped listening
        two_workers.client(timeout=2).connect()
    started = time.monotonic()
    for sock in socks:
        sock.sendall(BODY[100:])
    for sock in socks:
        with sock:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and b'"allowed":true' in data
        assert b"connection: close" in data.lower()
    assert two_workers.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    logs = two_workers.logs()
    assert "exited unexpectedly" not in logs and "Traceback" not in logs


@pytest.mark.slow
def test_a_killed_worker_is_replaced_on_the_same_port(two_workers: ServerProcess, metrics_dir: Path) -> None:
    victim, survivor = serving_pids(two_workers)
    assert list(metrics_dir.glob(f"gauge_live*_{victim}.db"))  # its certificate expiry and build info gauges
    os.kill(victim, signal.SIGKILL)
    pids = wait_for(lambda: len(serving_pids(two_workers)) == 3 and serving_pids(two_workers))
    replacement = pids[2]
    assert replacement not in (victim, survivor)
    assert f"worker {victim} exited unexpectedly (killed by SIGKILL)" in two_workers.logs()
    # It could not drop its live gauges itself; the supervisor did, so scrapes no longer show them.
    assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))
    validate_on(two_workers, dial(two_workers, 24))
    served = requests_per_worker(metrics_dir, 24)
    assert served.get(survivor, 0) > 0 and served.get(replacement, 0) > 0, served


@pytest.mark.slow
def test_a_worker_that_keeps_dying_is_restarted_ever_later(two_workers: ServerProcess) -> None:
    first, survivor = serving_pids(two_workers)
    os.kill(first, signal.SIGKILL)  # lived long enough or not: the first exit is restarted at once
    second = wait_for(lambda: len(serving_pids(two_workers)) == 3 and serving_pids(two_workers)[2])
    killed = time.monotonic()
    os.kill(second, signal.SIGKILL)  # a quick exit after a quick exit: a crash loop
    third = wait_for(lambda: len(serving_pids(two_workers)) == 4 and serving_pids(two_workers)[3])
    assert time.monotonic() - killed >= 1.0  # the first backoff step
    assert f"worker {second} exited unexpectedly (killed by SIGKILL): starting another in 1s" in two_workers.logs()
    assert third not in (first, second, survivor)
    os.kill(third, signal.SIGKILL)
    wait_for(lambda: f"worker {third} exited unexpectedly (killed by SIGKILL): starting another in 2s"
             in two_workers.logs())
    validate_on(two_workers, dial(two_workers, 4))  # the survivor answers meanwhile


def test_a_port_in_use_fails_fast_and_clearly(pki: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        started = time.monotonic()
        result = cli("serve", "--workers", "2", "--port", str(port), "--tls-cert", str(pki / "tls.crt"),
                     "--tls-key", str(pki / "tls.key"), "--log-format", "text", cwd=pki, timeout=30)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 10
    assert f"cannot listen on 127.0.0.1:{port}: " in result.stderr and "Address already in use" in result.stderr
    assert "Started server process" not in result.stderr and "Traceback" not in result.stderr


def app_failing_at_startup(*_certs_and_settings: object) -> Callable[..., Any]:
    """An app factory whose application refuses to start, as a broken configuration would."""

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "deliberately broken"})

    return app


def test_workers_that_cannot_start_stop_the_server(pki: Path) -> None:
    """uvicorn's startup failure in a worker is not retried forever: the supervisor stops with its exit code."""
    code = ("import sys; from webhook import cli; from webhook.serve import server; "
            "from tests.serve.test_workers import app_failing_at_startup; "
            "server.serve(cli.serve_settings(sys.argv[1:]), app_factory=app_failing_at_startup)")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", code, "--workers", "2", "--port", str(free_port()), "--tls-cert",
         str(pki / "tls.crt"), "--tls-key", str(pki / "tls.key"), "--log-format", "text"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 20
    assert "deliberately broken" in result.stderr
    assert re.search(r"worker \d+ failed to start \(exit code 3\): stopping", result.stderr)
    assert "starting another" not in result.stderr


def test_two_workers_share_the_port(pki: Path) -> None:
    server = ServerProcess(pki, "--workers", "2").wait_ready()
    try:
        pids = set()
        for _ in range(40):
            client = server.client()
            assert client.post("/validate", review(pool())).json()["response"]["allowed"] is True
            client.close()
        logs = server.logs()
        pids = {line.split("[")[1].split("]")[0] for line in logs.splitlines() if "Started server process" in line}
        assert len(pids) == 2
    finally:
        assert server.stop() == 0
