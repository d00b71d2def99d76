"""The server's Prometheus metrics, read back as samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import LiveServer, ServerProcess


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def https_metrics(server: ServerProcess | LiveServer) -> dict:  # type: ignore[type-arg]
    client = server.client()
    reply = client.request("GET", "/metrics")
    client.close()
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return scrape(reply.body.decode())
