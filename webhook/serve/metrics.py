"""Prometheus metrics, named in the controller-runtime style (``controller_runtime_webhook_*``).

Admission request metrics are kept as plain numbers in :data:`REQUESTS` and turned into metric families only when
scraped: going through prometheus-client's counters and histogram on every request costs about 3 µs of locks and
calls, a seventh of what the whole admission costs. Certificate metrics change rarely and use prometheus-client
directly.

With ``--workers N`` the processes share a directory (``PROMETHEUS_MULTIPROC_DIR``, set by the server before the
workers start): prometheus-client's multiprocess files hold the certificate metrics, and each worker publishes a
snapshot of its request metrics there every :data:`PUBLISH_SECONDS`. A scrape of any worker (or of the
``--metrics-port``) sums them all; counters of exited workers are kept, their in-flight requests are not.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
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
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from webhook import __version__

PREFIX = "connectionpool_webhook"
OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT", "unknown"})
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PUBLISH_SECONDS = 1.0
# The apiserver's own webhook histogram starts at 5 ms; ours must resolve what happens below that.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONTENT_TYPE: str = CONTENT_TYPE_LATEST


class RequestStats:
    """Request counts, latency histogram and in-flight requests of one process, as plain numbers."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # per webhook: observations per bucket, the last one +Inf
        self.sums: dict[str, float] = {}
        self.in_flight: dict[str, int] = {}
        self.violations: dict[tuple[str, str], int] = {}  # (webhook, enforcement) -> requests

    def violated(self, webhook: str, enforcement: str) -> None:
        """An object broke at least one rule (whatever the mode then did about it)."""
        key = (webhook, enforcement)
        self.violations[key] = self.violations.get(key, 0) + 1

    def started(self, webhook: str) -> None:
        self.in_flight[webhook] = self.in_flight.get(webhook, 0) + 1

    def finished(self, webhook: str, operation: str, result: str, code: int, started: float) -> None:
        """Count one answered (or refused) request; ``started`` is its ``time.perf_counter()`` at arrival."""
        seconds = time.perf_counter() - started
        if operation not in OPERATIONS:  # client-supplied: keep the label's values bounded
            operation = "unknown"
        key = (webhook, operation, result, str(code))
        self.counts[key] = self.counts.get(key, 0) + 1
        buckets = self.buckets.get(webhook)
        if buckets is None:
            buckets = self.buckets[webhook] = [0] * (len(LATENCY_BUCKETS) + 1)
            self.sums[webhook] = 0.0
        buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sums[webhook] += seconds
        self.in_flight[webhook] -= 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "counts": [[*key, n] for key, n in self.counts.items()],
            "buckets": self.buckets,
            "sums": self.sums,
            "in_flight": self.in_flight,
            "violations": [[*key, n] for key, n in self.violations.items()],
        }

    def add(self, snapshot: dict[str, Any], live: bool = True) -> None:
        """Add another process's snapshot; in-flight requests only count while that process lives."""
        for *key, n in snapshot["counts"]:
            key_tuple = (key[0], key[1], key[2], key[3])
            self.counts[key_tuple] = self.counts.get(key_tuple, 0) + n
        for webhook, theirs in snapshot["buckets"].items():
            ours = self.buckets.setdefault(webhook, [0] * (len(LATENCY_BUCKETS) + 1))
            self.buckets[webhook] = [a + b for a, b in zip(ours, theirs, strict=True)]
            self.sums[webhook] = self.sums.get(webhook, 0.0) + snapshot["sums"][webhook]
        for webhook, enforcement, n in snapshot.get("violations", ()):
            self.violations[webhook, enforcement] = self.violations.get((webhook, enforcement), 0) + n
        if live:
            for webhook, n in snapshot["in_flight"].items():
                self.in_flight[webhook] = self.in_flight.get(webhook, 0) + n

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{PREFIX}_requests",
            "Admission requests by webhook, operation, result (allowed, denied, patched, error) and HTTP code.",
            labels=["webhook", "operation", "result", "code"],
        )
        for key, n in sorted(self.counts.items()):
            requests.add_metric(list(key), n)
        yield requests
        latency = HistogramMetricFamily(
            f"{PREFIX}_latency_seconds", "Time from a request's headers to its answer being sent.", labels=["webhook"]
        )
        for webhook, counts in sorted(self.buckets.items()):
            cumulative, total = [], 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                total += n
                cumulative.append((repr(bound) if bound != float("inf") else "+Inf", total))
            latency.add_metric([webhook], cumulative, self.sums[webhook])
        yield latency
        in_flight = GaugeMetricFamily(
            f"{PREFIX}_requests_in_flight", "Admission requests being served now.", labels=["webhook"]
        )
        for webhook, n in sorted(self.in_flight.items()):
            in_flight.add_metric([webhook], n)
        yield in_flight
        violations = CounterMetricFamily(
            f"{PREFIX}_violations",
            "Admission requests whose object broke at least one rule, by webhook and the enforcement mode that "
            "delivered the verdict (deny, warn, dryrun).",
            labels=["webhook", "enforcement"],
        )
        for (webhook, enforcement), n in sorted(self.violations.items()):
            violations.add_metric([webhook, enforcement], n)
        yield violations


REQUESTS = RequestStats()


def _snapshot_file(directory: str, pid: int) -> Path:
    return Path(directory) / f"requests_{pid}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _RequestCollector(Collector):
    """This process's request metrics, plus every other worker's published snapshot when there are several."""

    def collect(self) -> Iterable[Metric]:
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return REQUESTS.families()
        total = RequestStats()
        total.add(REQUESTS.snapshot())
        for path in Path(directory).glob("requests_*.json"):
            pid = int(path.stem.split("_", 1)[1])
            if pid == os.getpid():
                continue
            try:
                snapshot = json.loads(path.read_bytes())
            except (OSError, ValueError):  # being replaced right now; the next scrape has it
                continue
            total.add(snapshot, live=_alive(pid))
        return total.families()


async def publish() -> None:
    """With several workers, keep this worker's snapshot in the shared directory up to date."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    path = _snapshot_file(directory, os.getpid())
    tmp = path.with_suffix(".tmp")
    try:
        while True:
            await asyncio.sleep(PUBLISH_SECONDS)
            _write(tmp, path)
    finally:
        _write(tmp, path)


def _write(tmp: Path, path: Path) -> None:
    tmp.write_text(json.dumps(REQUESTS.snapshot()))
    os.replace(tmp, path)  # readers never see half a file


_REQUEST_COLLECTOR = _RequestCollector()
REGISTRY = CollectorRegistry()
REGISTRY.register(_REQUEST_COLLECTOR)
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
CLUSTER_CHECKS_SKIPPED = Counter(
    f"{PREFIX}_cluster_checks_skipped_total",
    "Requests whose cluster checks were skipped because the cluster could not be read, by reason (not_synced, "
    "unreachable, forbidden, timeout, error); the rules of the object itself still decided.",
    ["reason"],
    registry=REGISTRY,
)
# The view of the cluster (--cluster-checks; webhook.serve.clusterview). With --workers N each worker keeps its own
# view: the gauges report the worst worker (synced) and the largest view (objects), the counters the sum.
CLUSTER_VIEW_SYNCED = Gauge(
    f"{PREFIX}_cluster_view_synced",
    "1 when the view of the cluster's ConnectionPools has been listed and its watch is not failing, else 0.",
    multiprocess_mode="livemin",
    registry=REGISTRY,
)
CLUSTER_VIEW_OBJECTS = Gauge(
    f"{PREFIX}_cluster_view_objects",
    "ConnectionPools in the view of the cluster.",
    multiprocess_mode="livemax",
    registry=REGISTRY,
)
CLUSTER_VIEW_EVENTS = Counter(
    f"{PREFIX}_cluster_view_events_total",
    "Watch events received, by type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).",
    ["type"],
    registry=REGISTRY,
)
CLUSTER_VIEW_RELISTS = Counter(
    f"{PREFIX}_cluster_view_relists_total",
    "Lists of every ConnectionPool after the first, by reason (expired: the watch's resourceVersion was too old; "
    "error: the watch reported another error).",
    ["reason"],
    registry=REGISTRY,
)
CLUSTER_VIEW_FAILURES = Counter(
    f"{PREFIX}_cluster_view_failures_total",
    "Lists and watches of the ConnectionPools that failed (and were retried with backoff), by reason (unreachable, "
    "forbidden, error).",
    ["reason"],
    registry=REGISTRY,
)
SECRET_LOOKUPS = Histogram(
    f"{PREFIX}_secret_lookup_duration_seconds",
    "Reads of one Secret's metadata for the cluster checks, by result (found, not_found, error).",
    ["result"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
BUILD_INFO = Gauge(
    f"{PREFIX}_build_info", "Always 1; the version is a label.", ["version"], multiprocess_mode="liveall",
    registry=REGISTRY,
)
BUILD_INFO.labels(__version__).set(1)


def certificate_loaded(ok: bool, not_after: float | None) -> None:
    if ok:
        CERT_RELOADS.inc()
    else:
        CERT_RELOAD_FAILURES.inc()
    if not_after is not None:
        CERT_EXPIRY.set(not_after)


def exposed_registry() -> CollectorRegistry:
    """What /metrics shows: this process's metrics, or the sum over every worker when running with several."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    registry.register(_REQUEST_COLLECTOR)
    return registry


def exposition() -> bytes:
    return generate_latest(exposed_registry())


def process_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (certificate expiry) from the shared directory."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
