"""Running the app under uvicorn: TLS from :class:`CertWatcher`, deadlines, graceful shutdown, workers, metrics port."""

from __future__ import annotations

import asyncio
import functools
import logging
import logging.config
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import start_http_server
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from webhook import certs, logs, metrics, workers
from webhook.app import create_app
from webhook.settings import Settings
from webhook.tls import CertWatcher

log = logging.getLogger("webhook.server")

# How long idle keep-alive connections stay open after SIGTERM for requests already on their way.
SHUTDOWN_DRAIN_SECONDS = 3.0


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, plus deadlines so stalled clients cannot hold a connection forever.

    uvicorn arms its idle timer only after a response, and any byte cancels it: a client that connects and sends
    nothing, or part of a request, would be kept indefinitely. Here a new connection gets the idle timeout, and
    each request must arrive in full within ``request_timeout`` or the connection is closed.
    """

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        # Set on the config by uvicorn_config(), the only place configs are built.
        self.request_timeout: float = config.request_timeout  # type: ignore[attr-defined]
        self.shutdown_drain: float = config.shutdown_drain  # type: ignore[attr-defined]
        self._deadline: asyncio.TimerHandle | None = None
        self._receiving = False  # a request has begun and is not complete yet
        self._draining = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # The deadline of a request that began in this read and is still incomplete after it. Most requests arrive
        # whole in one read and never need the timer, which costs more than anything else here.
        if self._receiving and self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.request_timeout, self._request_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = True

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer it, with Connection: close

    def on_message_complete(self) -> None:
        self._request_received()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        # uvicorn cancels its idle timer only when the connection ended cleanly; a reset one would otherwise stay
        # referenced, with its TLS objects, until the timer fires.
        self._unset_keepalive_if_required()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """SIGTERM: finish what is in flight; keep idle connections open a moment instead of closing them at once.

        A client may already have sent a request on an idle keep-alive connection (the apiserver keeps pooled
        connections to a terminating pod, Service or not), and closing it under that request fails the admission.
        So idle connections stay open for ``shutdown_drain`` seconds and anything that arrives is answered with
        ``Connection: close``.
        """
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif not self.transport.is_closing():
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(self.shutdown_drain, self.timeout_keep_alive_handler)

    def _request_received(self) -> None:
        self._receiving = False
        self._cancel_deadline()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_too_slow(self) -> None:
        self._deadline = None
        log.info("closing a connection whose request did not arrive within %ss", self.request_timeout)
        if not self.transport.is_closing():
            self.transport.close()


def certificate_files(settings: Settings) -> Settings:
    """The settings with a certificate: the one given, or a self-signed development bundle."""
    if settings.tls_cert is not None:
        return settings
    out = settings.dev_certs_dir
    created = certs.ensure_dev_bundle(out)
    log.warning(
        "no --tls-cert given: %s self-signed development certificates for localhost and 127.0.0.1 in %s "
        "(trust %s); use real certificates in a cluster",
        "created" if created else "using existing",
        out,
        out / certs.CA_FILE,
    )
    return settings.model_copy(update={"tls_cert": out / certs.CERT_FILE, "tls_key": out / certs.KEY_FILE})


def uvicorn_config(settings: Settings, app_factory: Any = create_app) -> uvicorn.Config:
    """uvicorn settings for the webhook (the benchmark's ceiling app reuses them with its own factory)."""
    from webhook.fastlane import FastLaneProtocol  # noqa: PLC0415 - it builds on DeadlineProtocol, above

    assert settings.tls_cert is not None
    assert settings.tls_key is not None
    watcher = CertWatcher(settings.tls_cert, settings.tls_key, settings.client_ca, settings.tls_reload_interval)
    config = uvicorn.Config(
        # A factory, so each worker process builds its own app around its own copy of the watcher.
        functools.partial(app_factory, watcher, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ssl_context_factory=watcher,
        loop="uvloop",
        # DeadlineProtocol, with the webhook routes answered before ASGI (webhook.fastlane).
        http=FastLaneProtocol,
        lifespan="on",
        # Longer than the kube-apiserver keeps idle connections (90 s), so we never close one it is about to use.
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.graceful_timeout,
        log_config=logs.config(settings.log_level, settings.log_format),
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    config.request_timeout = settings.request_timeout  # type: ignore[attr-defined]
    config.shutdown_drain = min(SHUTDOWN_DRAIN_SECONDS, settings.graceful_timeout)  # type: ignore[attr-defined]
    return config


def _shared_metrics_dir() -> str:
    """A fresh multiprocess directory for prometheus-client; must be set before workers import it."""
    path = os.environ.get(metrics.MULTIPROC_ENV)
    if path:
        for stale in Path(path).glob("*.db"):
            stale.unlink()
    else:
        path = tempfile.mkdtemp(prefix="connectionpool-webhook-metrics-")
        os.environ[metrics.MULTIPROC_ENV] = path
    return path


def _start_metrics_port(settings: Settings) -> None:
    if settings.metrics_port is None:
        return
    start_http_server(settings.metrics_port, addr=settings.host, registry=metrics.exposed_registry())
    log.info("serving /metrics over plain HTTP on %s:%s", settings.host, settings.metrics_port)


def serve(settings: Settings, app_factory: Any = create_app) -> None:
    """Run until SIGTERM. ``app_factory(certs)`` builds the ASGI app in each worker (the benchmark swaps it)."""
    logging.config.dictConfig(logs.config(settings.log_level, settings.log_format))
    settings = certificate_files(settings)
    if settings.workers > 1:
        _shared_metrics_dir()
    config = uvicorn_config(settings, app_factory)
    watcher = config.ssl_context_factory
    assert isinstance(watcher, CertWatcher)
    try:
        watcher.context  # noqa: B018 - fail fast, in the parent, on a certificate that cannot be loaded
    except (OSError, ValueError) as exc:
        log.error("cannot load the serving certificate: %s", exc)
        sys.exit(1)
    _start_metrics_port(settings)
    if settings.workers > 1:
        sys.exit(workers.run(config))  # a socket per worker: see webhook/workers.py
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; exit 0 then, not -15, so the pod
    # ends as Completed rather than Error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(3)
