"""Running the app under uvicorn: TLS from :class:`CertWatcher`, keep-alive, graceful shutdown, workers."""

from __future__ import annotations

import functools
import logging
import logging.config
import signal
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

from webhook import certs, logs
from webhook.app import create_app
from webhook.settings import Settings
from webhook.tls import CertWatcher

log = logging.getLogger("webhook.server")


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


def uvicorn_config(settings: Settings) -> uvicorn.Config:
    assert settings.tls_cert is not None
    assert settings.tls_key is not None
    watcher = CertWatcher(settings.tls_cert, settings.tls_key, settings.client_ca, settings.tls_reload_interval)
    return uvicorn.Config(
        # A factory, so each worker process builds its own app around its own copy of the watcher.
        functools.partial(create_app, settings, watcher),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ssl_context_factory=watcher,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        # Longer than the kube-apiserver keeps idle connections (90 s), so we never close one it is about to use.
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.graceful_timeout,
        log_config=logs.config(settings.log_level, settings.log_format),
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


def serve(settings: Settings) -> None:
    logging.config.dictConfig(logs.config(settings.log_level, settings.log_format))
    settings = certificate_files(settings)
    config = uvicorn_config(settings)
    try:
        # Fail fast, in the parent, on a certificate that cannot be loaded.
        watcher = config.ssl_context_factory
        assert isinstance(watcher, CertWatcher)
        watcher.context  # noqa: B018 - loading it is the check
    except (OSError, ValueError) as exc:
        log.error("cannot load the serving certificate: %s", exc)
        sys.exit(1)
    if settings.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; exit 0 then, not -15, so the pod
    # ends as Completed rather than Error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(3)
