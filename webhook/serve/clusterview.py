"""The server's view of the cluster, for the cluster checks (:mod:`webhook.serve.cluster_checks`): what is watched,
its index, its freshness and its health.

- **ConnectionPools**: a watch-backed cache of the whole cluster, kept as client-go's reflector keeps an informer's:
  list in pages (``limit``/``continue``; a continue token that expires reads the list again in one request), then
  watch from the list's ``resourceVersion`` with bookmarks, keeping the last ``resourceVersion`` of every event; a
  watch that ends is resumed from there, a 410 Gone (history compacted) lists again, anything else is retried with
  capped exponential backoff. Only :class:`~webhook.rules.integrity.Pool` tuples are kept, in an
  :class:`~webhook.rules.integrity.Index`; a page is converted and dropped, and a list builds a new index that
  replaces the old one in one assignment, so a reader never sees half a list.
- **Secrets**: never listed or watched (a webhook allowed to list Secrets is one security reviews refuse). One Secret
  is read by name when a request needs it, in its metadata-only form (PartialObjectMetadata), so its data never
  reaches this process.

One background thread does the watching with the Kubernetes client's blocking HTTP, and a small thread pool the
Secret lookups: the event loop never waits on the cluster. The loop reads the index under a lock the watch thread
holds for one index update at a time. A view that cannot read the cluster says why (:meth:`ClusterView.unusable`) and
the checks are skipped; it never stops the server from starting, being ready, or answering.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3

from webhook import kube
from webhook.rules import connectionpool, integrity
from webhook.rules.integrity import Index, Pool, Secret, View
from webhook.serve import metrics
from webhook.serve.cluster_checks import Unreadable

log = logging.getLogger("webhook.clusterview")

POOLS = f"/apis/{connectionpool.GROUP}/{connectionpool.VERSION}/{connectionpool.RESOURCE}"
PAGE_SIZE = 500
# A watch asks the apiserver to end it after this many seconds plus up to as many again (client-go's jitter, so that
# many watchers do not all come back at once); it is then resumed from the last resourceVersion.
WATCH_SECONDS = 300
# How long the watch may fail before the view counts as stale and the checks are skipped: a dropped connection is
# resumed within a second or two, and its events are not lost (the next watch starts where this one stopped).
STALE_AFTER = 5.0
# Capped exponential backoff between failed lists or watches, in seconds (client-go's reflector: 0.8 s to 30 s).
BACKOFF = (0.8, 30.0)
# Threads reading Secrets: each read is bounded by the view's timeout, so a few keep up with the webhook.
LOOKUP_THREADS = 4
NOT_SYNCED = "the view of the cluster's ConnectionPools is not synced yet"
EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")


class _Expired(Exception):
    """The watch's resourceVersion is older than the apiserver's history (410 Gone): list again."""


class _Failed(Exception):
    """A list or watch failed; ``relist`` when the watch said so (an ERROR event other than 410)."""

    def __init__(self, reason: str, message: str, relist: bool = False, routine: bool = False) -> None:
        super().__init__(message)
        self.unreadable = Unreadable(reason, message)
        self.relist = relist
        self.routine = routine  # a watch cut by a proxy or a restarting apiserver: logged, not warned about


class ClusterView:
    """The server's view of the cluster: :class:`webhook.serve.cluster_checks.Cluster`.

    ``kubeconfig`` and ``context`` choose the cluster as ``audit`` does (:class:`webhook.kube.Connection`; neither:
    ``$KUBECONFIG``, ``~/.kube/config`` or in-cluster); the configuration is loaded by the watch thread, so a broken
    one leaves the view not synced (and logged), never the server unable to start. ``timeout`` bounds a request's
    Secret lookups. Call :meth:`start` once and :meth:`stop` at shutdown.
    """

    def __init__(self, kubeconfig: Path | None = None, context: str | None = None, timeout: float = 1.0, *,
                 page_size: int = PAGE_SIZE, watch_seconds: int = WATCH_SECONDS, stale_after: float = STALE_AFTER,
                 backoff: tuple[float, float] = BACKOFF) -> None:
        self._kubeconfig, self._context = kubeconfig, context
        self._timeout = timeout
        self._page_size, self._watch_seconds = page_size, watch_seconds
        self._stale_after, self._backoff = stale_after, backoff
        self._connection: kube.Connection | None = None
        self._lock = threading.Lock()  # held by the watch thread for one index update, and by snapshot()
        self._index = Index()
        self._resource_version = ""
        self._synced = threading.Event()
        # (why, since when: time.monotonic()) while lists or watches fail; one attribute, so read in one piece.
        self._failing: tuple[Unreadable, float] | None = None
        self._failures = 0  # in a row: the backoff's exponent
        self._jitter = random.Random()  # its own: the watch thread never moves the process's shared random state
        self._listed_at = 0.0  # time.monotonic() of the last list
        self._stopping = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None  # the open watch, shut down by stop()
        self._thread: threading.Thread | None = None
        self._lookups = concurrent.futures.ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="secret-lookup")
        self._reading: dict[tuple[str, str], asyncio.Future[Secret | None]] = {}  # the reads in flight
        self._events = {kind: metrics.CLUSTER_VIEW_EVENTS.labels(kind) for kind in EVENT_TYPES}
        metrics.CLUSTER_VIEW_SYNCED.set(0)
        metrics.CLUSTER_VIEW_OBJECTS.set(0)

    # --- the Cluster protocol -----------------------------------------------------------------------------------

    @property
    def pools(self) -> View:
        # The index itself, read without the lock (see Index): the checks' lookups cost no more than the dicts'.
        # One index per request, so a relist that swaps in a new one mid-request is not seen half-way.
        return self._index

    @property
    def timeout(self) -> float:
        return self._timeout

    def with_identity(self, identity: tuple[str, str, str]) -> Iterable[Pool]:
        return self._index.with_identity(identity)

    def writing(self, namespace: str, secret: str) -> Iterable[Pool]:
        return self._index.writing(namespace, secret)

    def unusable(self) -> Unreadable | None:
        """Why the ConnectionPools known cannot be trusted now: not listed yet, or the watch failing for longer than
        ``stale_after`` seconds (what was listed may no longer be true); None when they can."""
        if not self._synced.is_set():
            return Unreadable("not_synced", NOT_SYNCED)
        failing = self._failing
        if failing is not None:
            why, since = failing
            seconds = time.monotonic() - since
            if seconds > self._stale_after:
                return Unreadable(why.reason, f"the view of the cluster's ConnectionPools is stale (its watch has "
                                  f"failed for {seconds:.0f}s): {why}")
        return None

    async def secret(self, namespace: str, name: str) -> Secret | None:
        """The metadata of Secret ``namespace/name`` (never its data), None when it does not exist; raises
        :class:`Unreadable`. Read in a thread: the caller bounds the wait (``timeout``), and so does the request.

        Requests that ask for a Secret while it is being read share that read (a burst of CREATEs naming one Aiven
        token Secret makes one request, not one each: a lookup costs about 0.5 ms of CPU). Nothing is kept after it.
        """
        key = (namespace, name)
        reading = self._reading.get(key)
        if reading is None or reading.done():
            loop = asyncio.get_running_loop()
            try:
                reading = loop.run_in_executor(self._lookups, self._read_secret, namespace, name)
            except RuntimeError:  # the pool is shut down: the server is stopping
                raise Unreadable("error", "the server is shutting down") from None
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._forget(key, done))
        # One request's deadline must not cancel the read the others wait on.
        return await asyncio.shield(reading)

    def _forget(self, key: tuple[str, str], done: asyncio.Future[Secret | None]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]

    # --- what tests, benchmarks and the app use -----------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The resourceVersion the next watch starts from: the list's, then the last event's or bookmark's."""
        return self._resource_version

    def snapshot(self) -> dict[tuple[str, str], Pool]:
        """The pools known now, by (namespace, name)."""
        with self._lock:
            return dict(self._index.pools)

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cluster-view", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching (the open watch is cut, not waited for) and release the connections; blocks up to
        ``timeout`` for the thread, so the app calls it from a thread of its own."""
        self._stopping.set()
        response = self._response
        if response is not None:
            _shutdown(response)
        if self._thread is not None:
            self._thread.join(timeout)
        self._lookups.shutdown(wait=False, cancel_futures=True)
        if self._connection is not None:
            self._connection.client.close()  # type: ignore[no-untyped-call]

    # --- the watch thread ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        relist: str | None = ""  # "" the first list; None: watch; else why the list is read again
        while not self._stopping.is_set():
            try:
                if self._connection is None:
                    self._connection = kube.Connection(self._kubeconfig, self._context)
                    if self._connection.insecure:
                        log.warning("cluster view: %s", kube.INSECURE)
                if relist is not None:
                    self._list(relist)
                    relist = None
                if not self._watch():
                    # Ended at once with nothing to say: not an error, but not to be repeated in a tight loop.
                    self._stopping.wait(self._backoff[0])
            except _Expired as exc:
                log.info("cluster view: %s; listing the ConnectionPools again", exc)
                relist = "expired"
                if time.monotonic() - self._listed_at < 1.0:  # expired at once: a list a second at most
                    self._stopping.wait(self._backoff[0])
            except _Failed as exc:
                relist = "error" if exc.relist else relist
                self._failed(exc.unreadable, exc.routine)
            except kube.ClusterError as exc:
                self._failed(Unreadable("unreachable" if isinstance(exc, kube.Unreachable) else "error", str(exc)))
            except Exception as exc:  # never let the thread die: the server would keep a view that stopped
                log.exception("cluster view: unexpected failure; retrying")
                self._failed(Unreadable("error", f"{type(exc).__name__}: {kube.one_line(str(exc))}"))

    def _failed(self, why: Unreadable, routine: bool = False) -> None:
        """Count and log a failure, then wait before the next try (capped exponential backoff, with jitter)."""
        if self._stopping.is_set():
            return
        self._failures += 1
        first, cap = self._backoff
        delay = min(cap, first * 2 ** min(self._failures - 1, 32)) * self._jitter.uniform(1.0, 1.5)
        # The state first, then the metrics and the log that report it: whoever sees the failure counted (a
        # scrape, a test) finds the view saying why.
        if self._failing is None:
            self._failing = (why, time.monotonic())
            log.log(logging.INFO if routine else logging.WARNING, "cluster view: %s; retrying with backoff", why)
        else:
            self._failing = (why, self._failing[1])
            log.debug("cluster view: still failing: %s", why)
        metrics.CLUSTER_VIEW_FAILURES.labels(why.reason).inc()
        metrics.CLUSTER_VIEW_SYNCED.set(0)
        self._stopping.wait(delay)

    def _working(self) -> None:
        self._failures = 0
        if self._failing is not None:
            log.info("cluster view: reading the cluster again after %.1fs", time.monotonic() - self._failing[1])
            self._failing = None
        if self._synced.is_set():
            metrics.CLUSTER_VIEW_SYNCED.set(1)

    def _list(self, reason: str) -> None:
        """Every ConnectionPool, page by page, into a new index that then replaces the old one."""
        connection = self._connection
        assert connection is not None
        started = time.monotonic()
        index, token = Index(), ""
        while True:
            query = [("limit", str(self._page_size))] + ([("continue", token)] if token else [])
            try:
                page = self._get_list(connection, query)
            except _Expired:
                # The continue token outlived the apiserver's history: read the list again in one request, as
                # client-go's pager does, rather than mix two snapshots.
                index, page = Index(), self._get_list(connection, [])
            for obj in page.get("items") or ():
                pool = _pool(obj)
                if pool is not None:
                    index.put(pool)
            metadata = _object(page.get("metadata"))
            token = _text(metadata.get("continue"))
            if not token or self._stopping.is_set():
                break
            del page  # one page at a time in memory
        if self._stopping.is_set():
            return
        # What a reader may look at next (the resourceVersion, the metrics) is set before the index it goes with.
        self._resource_version = _text(metadata.get("resourceVersion"))
        metrics.CLUSTER_VIEW_OBJECTS.set(len(index))
        if reason:
            metrics.CLUSTER_VIEW_RELISTS.labels(reason).inc()
        with self._lock:
            self._index = index
        self._synced.set()
        self._listed_at = time.monotonic()
        self._working()
        log.info("cluster view: %d ConnectionPools listed in %.2fs (resourceVersion %s)", len(index),
                 time.monotonic() - started, self._resource_version or "none")

    def _get_list(self, connection: kube.Connection, query: list[tuple[str, str]]) -> dict[str, Any]:
        response = self._get(connection, POOLS, query, kube.REQUEST_TIMEOUT)
        try:
            body = _read(response, connection)
        finally:
            response.release_conn()
        if response.status == 410 and any(name == "continue" for name, _ in query):
            raise _Expired("the list's continue token expired")
        if response.status != 200:
            raise _refused(response, body, connection)
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _Failed("error", f"the server {connection.server} answered a list with something that is not "
                          "JSON") from None
        if type(page) is not dict:
            raise _Failed("error", f"the server {connection.server} answered a list with something that is not a "
                          "list")
        return page

    def _get(self, connection: kube.Connection, path: str, query: list[tuple[str, str]],
             timeout: float | tuple[float, float]) -> urllib3.BaseHTTPResponse:
        try:
            return connection.get(path, query, timeout=timeout)
        except kube.Unreachable as exc:
            raise _Failed("unreachable", str(exc)) from None

    def _watch(self) -> bool:
        """Watch from the last resourceVersion until the apiserver ends the watch; whether it said anything."""
        connection = self._connection
        assert connection is not None
        seconds = int(self._watch_seconds * (1 + self._jitter.random()))
        query = [("watch", "1"), ("resourceVersion", self._resource_version), ("allowWatchBookmarks", "true"),
                 ("timeoutSeconds", str(seconds))]
        # The read timeout only catches a connection that died silently: the apiserver ends the watch first.
        response = self._get(connection, POOLS, query, (kube.REQUEST_TIMEOUT[0], seconds + 60.0))
        if response.status != 200:
            try:
                body = _read(response, connection)
            finally:
                response.release_conn()
            if response.status == 410:
                raise _Expired(f"watch from resourceVersion {self._resource_version}: "
                               f"{kube.status_message(body) or 'Gone'}")
            raise _refused(response, body, connection)
        self._working()
        self._response = response
        heard = ended = False
        try:
            if self._stopping.is_set():  # stop() came before the watch was there to cut
                return False
            for line in _lines(response, connection):
                if self._stopping.is_set():
                    break
                heard = True
                self._event(line)
            else:
                ended = True
        finally:
            self._response = None
            if not ended:  # cut short: the connection is in the middle of a stream, not reusable
                response.close()
            response.release_conn()
        return heard

    def _event(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _Failed("error", "the watch sent a line that is not JSON") from None
        kind = event.get("type") if type(event) is dict else None
        obj = event.get("object") if type(event) is dict else None
        if kind not in self._events or type(obj) is not dict:
            return  # not an event of this API: skipped, as client-go skips an unknown type
        self._events[kind].inc()
        if kind == "ERROR":
            message = kube.one_line(str(obj.get("message") or "")) or "no message"
            if obj.get("code") == 410:
                raise _Expired(f"watch from resourceVersion {self._resource_version}: {message}")
            raise _Failed("error", f"the watch reported an error ({obj.get('code')}): {message}", relist=True)
        metadata = _object(obj.get("metadata"))
        pool = _pool(obj) if kind in ("ADDED", "MODIFIED") else None
        version = _text(metadata.get("resourceVersion"))
        if version:  # before the change it goes with: whoever sees the change sees its resourceVersion
            self._resource_version = version
        if kind != "BOOKMARK":
            key = (_text(metadata.get("namespace")), _text(metadata.get("name")))
            with self._lock:
                if pool is not None:
                    self._index.put(pool)
                else:  # deleted, or no identity left to read: it conflicts with nothing
                    self._index.remove(key)
            metrics.CLUSTER_VIEW_OBJECTS.set(len(self._index))

    # --- Secrets ------------------------------------------------------------------------------------------------

    def _read_secret(self, namespace: str, name: str) -> Secret | None:
        started, result = time.perf_counter(), "error"
        try:
            connection = self._connection
            if connection is None:
                failing = self._failing
                if failing is not None:
                    raise Unreadable(failing[0].reason, str(failing[0]))
                raise Unreadable("not_synced", NOT_SYNCED)
            try:
                metadata = connection.secret_metadata(namespace, name, timeout=(self._timeout, self._timeout))
            except kube.Unreachable as exc:
                raise Unreadable("unreachable", str(exc)) from None
            except kube.Refused as exc:
                raise Unreadable("forbidden" if exc.code == 403 else "error", str(exc)) from None
            except kube.ClusterError as exc:
                raise Unreadable("error", str(exc)) from None
            if metadata is None:
                result = "not_found"
                return None
            result = "found"
            return integrity.secret_of(metadata, namespace, name)
        except Unreadable:
            raise
        except Exception as exc:  # an auth plugin that fails, a bug: the checks are skipped, the request answered
            log.exception("cluster view: reading Secret %s/%s failed", namespace, name)
            raise Unreadable("error", f"{type(exc).__name__}: {kube.one_line(str(exc))}") from None
        finally:
            metrics.SECRET_LOOKUPS.labels(result).observe(time.perf_counter() - started)


def _pool(obj: Any) -> Pool | None:
    """The pool an object describes, its repeated strings shared: namespaces, projects and services recur across
    thousands of pools, and the Secret a pool writes is usually its own name."""
    pool = integrity.pool_of(obj)
    if pool is None:
        return None
    intern = sys.intern
    return pool._replace(
        namespace=intern(pool.namespace), project=intern(pool.project), service=intern(pool.service),
        secret=pool.name if pool.secret == pool.name else pool.secret,
        auth_secret=intern(pool.auth_secret) if pool.auth_secret is not None else None)


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _text(value: Any) -> str:
    return value if type(value) is str else ""


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _read(response: urllib3.BaseHTTPResponse, connection: kube.Connection) -> bytes:
    try:
        return response.read()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Failed("unreachable", kube.connection_message(exc, connection.server)) from None


def _lines(response: urllib3.BaseHTTPResponse, connection: kube.Connection) -> Iterator[bytes]:
    """The watch's lines as they arrive (``read1``: whatever the connection has, chunked or not)."""
    parts: list[bytes] = []
    while True:
        try:
            data = response.read1(65536)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            host = urlsplit(connection.server).netloc or connection.server
            raise _Failed("unreachable", f"the watch of the server {host} was cut: {kube.one_line(str(exc))}",
                          routine=True) from None
        if not data:
            return
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            parts.append(data[start:end])
            line = b"".join(parts)
            parts.clear()
            if line.strip():
                yield line
            start = end + 1
        if start < len(data):
            parts.append(data[start:])


def _refused(response: urllib3.BaseHTTPResponse, body: bytes, connection: kube.Connection,
             action: str | None = None) -> _Failed:
    """An HTTP error answer as a failure: ``forbidden`` for 403 (RBAC), ``error`` for the rest. ``action`` is what
    was refused; None for a list or watch of the ConnectionPools."""
    code, message = response.status, kube.status_message(body)
    resource = f"{connectionpool.RESOURCE}.{connectionpool.GROUP}"
    if code == 404 and action is None:
        text = kube.missing_resource(connection.server, f"{resource}/{connectionpool.VERSION}", connectionpool.KIND)
    else:
        text = kube.api_message(code, response.reason or "", message, connection.server,
                                action or f"list and watch {resource}")
    return _Failed("forbidden" if code == 403 else "error", text)


def _shutdown(response: urllib3.BaseHTTPResponse) -> None:
    """Cut an open watch from another thread: its blocked read returns."""
    try:
        shutdown = getattr(response, "shutdown", None)
        (shutdown or response.close)()
    except Exception:  # already closed: nothing left to cut
        log.debug("cluster view: the watch was already closed", exc_info=True)
