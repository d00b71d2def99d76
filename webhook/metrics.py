"""Prometheus metrics, named in the controller-runtime style (``controller_runtime_webhook_*``).

With ``--workers N`` the processes share prometheus-client's multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``,
set by the server before the workers start), so any worker's ``/metrics`` reports the sum over all of them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from webhook import __version__

PREFIX = "connectionpool_webhook"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT", "unknown"})
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The apiserver's own webhook histogram starts at 5 ms; ours must resolve what happens below that.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE: str = CONTENT_TYPE_LATEST
REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    f"{PREFIX}_requests_total",
    "Admission requests by webhook, operation, result (allowed, denied, patched, error) and HTTP code.",
    ["webhook", "operation", "result", "code"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    f"{PREFIX}_latency_seconds",
    "Time from a request's headers to its answer being sent.",
    ["webhook"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
IN_FLIGHT = Gauge(
    f"{PREFIX}_requests_in_flight",
    "Admission requests being served now.",
    ["webhook"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CERT_RELOADS = Counter(
    f"{PREFIX}_certificate_reloads_total", "Serving certificate reloads from disk.", registry=REGISTRY
)
CERT_RELOAD_FAILURES = Counter(
    f"{PREFIX}_certificate_reload_failures_total",
    "Changed certificate files that could not be loaded (the previous certificate stays in use).",
    registry=REGISTRY,
)
CERT_EXPIRY = Gauge(
    f"{PREFIX}_certificate_expiration_timestamp_seconds",
    "When the serving certificate in use expires (Unix time).",
    multiprocess_mode="livemin",
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info", "Always 1; the version is a label.", ["version"], multiprocess_mode="liveall",
    registry=REGISTRY,
)
BUILD_INFO.labels(__version__).set(1)


# labels() takes a lock and hashes its arguments on every call; the label sets we use are few, so keep them.
_requests: dict[tuple[str, str, str, int], Any] = {}
_latency: dict[str, Any] = {}


def observe(webhook: str, operation: str, result: str, code: int, started: float) -> None:
    key = (webhook, operation, result, code)
    counter = _requests.get(key)
    if counter is None:
        # Operations come from clients: keep the label bounded to the ones Kubernetes has.
        if operation not in OPERATIONS:
            key = (webhook, "unknown", result, code)
        counter = _requests[key] = REQUESTS.labels(key[0], key[1], result, str(code))
    counter.inc()
    histogram = _latency.get(webhook)
    if histogram is None:
        histogram = _latency[webhook] = LATENCY.labels(webhook)
    histogram.observe(time.perf_counter() - started)


_in_flight: dict[str, Any] = {}


def in_flight(webhook: str) -> Any:
    gauge = _in_flight.get(webhook)
    if gauge is None:
        gauge = _in_flight[webhook] = IN_FLIGHT.labels(webhook)
    return gauge


def certificate_loaded(ok: bool, not_after: float | None) -> None:
    if ok:
        CERT_RELOADS.inc()
    else:
        CERT_RELOAD_FAILURES.inc()
    if not_after is not None:
        CERT_EXPIRY.set(not_after)


def exposed_registry() -> CollectorRegistry:
    """What /metrics shows: this process's metrics, or the sum over every worker when running with several."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


def exposition() -> bytes:
    return generate_latest(exposed_registry())


def process_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (in-flight, expiry) from the shared directory."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
