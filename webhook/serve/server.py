"""Running the app under uvicorn: TLS from :class:`CertWatcher`, deadlines, graceful shutdown, workers, metrics port."""

from __future__ import annotations

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

from webhook import certs
from webhook.serve import logs, metrics, workers
from webhook.serve.app import create_app
from webhook.serve.fastlane import FastLaneProtocol
from webhook.serve.settings import Settings
from webhook.serve.tls import CertWatcher

log = logging.getLogger("webhook.server")

# How long idle keep-alive connections stay open after SIGTERM for requests already on their way
# (DeadlineProtocol.shutdown).
SHUTDOWN_DRAIN_SECONDS = 3.0


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
        # DeadlineProtocol, with the webhook routes answered before ASGI (webhook.serve.fastlane).
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
        sys.exit(workers.run(config))  # a socket per worker: see webhook/serve/workers.py
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; exit 0 then, not -15, so the pod
    # ends as Completed rather than Error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(3)
