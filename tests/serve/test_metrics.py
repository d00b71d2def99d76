"""The Prometheus metrics: requests by webhook, operation, result and code, certificate expiry and reloads, on the
webhook port and the plain-HTTP metrics port, summed over workers."""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from tests.support.commands import cli, make_certs
from tests.support.https import Client, free_port
from tests.support.metrics import https_metrics, sample, scrape
from tests.support.reviews import pool, review
from webhook import __version__
from webhook.serve.metrics import RequestStats

PREFIX = "connectionpool_webhook"


@pytest.mark.process
def test_request_metrics_by_webhook_operation_result_and_code(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    client = server.client()
    client.post("/validate", review(pool()))
    client.post("/validate", review(pool(poolMode="bogus")))
    client.post("/validate", review(None, "DELETE"))
    client.post("/mutate", review(pool()))
    client.post("/mutate", review(pool(connInfoSecretTarget={"name": "x"}), "UPDATE"))
    client.post("/mutate", b"{not json")
    client.post("/validate", review(pool()), content_type="text/plain")
    client.close()
    m = https_metrics(server)
    total = f"{PREFIX}_requests_total"
    assert sample(m, total, webhook="validate", operation="CREATE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="validate", operation="CREATE", result="denied", code="200") == 1
    assert sample(m, total, webhook="validate", operation="DELETE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="CREATE", result="patched", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="UPDATE", result="allowed", code="200") == 1
    assert sample(m, total, webhook="mutate", operation="unknown", result="error", code="400") == 1
    assert sample(m, total, webhook="validate", operation="unknown", result="error", code="415") == 1
    # Buckets fine enough below the apiserver's 5 ms first bucket.
    buckets = {float(dict(labels)["le"]) for (name, labels) in m if name == f"{PREFIX}_latency_seconds_bucket"}
    assert {0.0005, 0.001, 0.002, 0.003, 0.005} <= buckets
    assert sample(m, f"{PREFIX}_latency_seconds_count", webhook="validate") == 4
    assert sample(m, f"{PREFIX}_requests_in_flight", webhook="validate") == 0
    assert sample(m, f"{PREFIX}_build_info", version=__version__) == 1


@pytest.mark.process
def test_certificate_expiry_and_reload_metrics(fresh_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    live = make_certs(tmp_path / "live")
    server = fresh_server("--tls-reload-interval", "0.2", cert_dir=live)
    first = x509.load_pem_x509_certificate((live / "tls.crt").read_bytes())
    m = https_metrics(server)
    assert sample(m, f"{PREFIX}_certificate_expiration_timestamp_seconds") == first.not_valid_after_utc.timestamp()
    assert sample(m, f"{PREFIX}_certificate_reloads_total") == 0

    def swap_in(source: Path, name: str) -> None:
        (live / f"{name}.new").write_bytes((source / name).read_bytes())
        os.replace(live / f"{name}.new", live / name)

    # A key that does not match the certificate: a failure, and the old certificate stays.
    swap_in(make_certs(tmp_path / "other"), "tls.key")
    deadline = time.monotonic() + 10
    while sample(https_metrics(server), f"{PREFIX}_certificate_reload_failures_total") < 1:
        assert time.monotonic() < deadline, server.logs()
        time.sleep(0.1)
    # A good pair with a 10-day lifetime: one reload, and the expiry gauge follows it.
    short = tmp_path / "short"
    assert cli("certs", "--out-dir", str(short), "--dns-name", "localhost", "--days", "10").returncode == 0
    swap_in(short, "tls.crt")
    swap_in(short, "tls.key")
    client = Client(server.port, short / "ca.crt", server_name="localhost")
    deadline = time.monotonic() + 10
    while True:
        try:
            m = scrape(client.request("GET", "/metrics").body.decode())
            break
        except ssl.SSLError:  # still the old certificate, which this client does not trust
            client.close()
            assert time.monotonic() < deadline
            time.sleep(0.1)
    client.close()
    expiry = x509.load_pem_x509_certificate((short / "tls.crt").read_bytes()).not_valid_after_utc.timestamp()
    assert sample(m, f"{PREFIX}_certificate_reloads_total") == 1
    assert sample(m, f"{PREFIX}_certificate_reload_failures_total") == 1
    assert sample(m, f"{PREFIX}_certificate_expiration_timestamp_seconds") == expiry


@pytest.mark.process
def test_metrics_port_serves_plain_http(fresh_server) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    server = fresh_server("--metrics-port", str(port))
    server.client().post("/validate", review(pool()))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        m = scrape(resp.read().decode())
    assert sample(m, f"{PREFIX}_requests_total", webhook="validate", operation="CREATE", result="allowed",
                  code="200") == 1


@pytest.mark.process
@pytest.mark.slow
def test_metrics_are_summed_over_workers(fresh_server) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    server = fresh_server("--workers", "2", "--metrics-port", str(port))
    for _ in range(30):
        client = server.client()  # a new connection each time, so both workers get some
        assert client.post("/validate", review(pool())).status == 200
        client.close()

    def plain_http() -> dict:  # type: ignore[type-arg]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return scrape(resp.read().decode())

    # Workers publish their request metrics every second; both ways of scraping must reach the full sum.
    for scrape_once in (plain_http, lambda: https_metrics(server)):
        deadline = time.monotonic() + 10
        while (total := sample(scrape_once(), f"{PREFIX}_requests_total", webhook="validate", operation="CREATE",
                               result="allowed", code="200")) != 30:
            assert total < 30 and time.monotonic() < deadline, total
            time.sleep(0.2)
    assert sample(https_metrics(server), f"{PREFIX}_latency_seconds_count", webhook="validate") == 30


def test_an_exited_workers_counts_stay_but_its_in_flight_requests_do_not() -> None:
    worker = RequestStats()
    for _ in range(3):
        worker.started("mutate")
    worker.finished("mutate", "CREATE", "patched", 200, time.perf_counter())
    worker.finished("mutate", "made-up", "error", 400, time.perf_counter())
    snapshot = json.loads(json.dumps(worker.snapshot()))  # as published to the shared directory
    for live, in_flight in ((True, 1), (False, 0)):
        total = RequestStats()
        total.add(snapshot, live=live)
        assert total.counts == {("mutate", "CREATE", "patched", "200"): 1, ("mutate", "unknown", "error", "400"): 1}
        assert total.in_flight.get("mutate", 0) == in_flight
        assert sum(total.buckets["mutate"]) == 2
