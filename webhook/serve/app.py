"""The HTTP application: FastAPI for routes, health, metrics and docs, with a raw ASGI fast path for the webhooks.

The fast path answers ``POST /validate`` and ``POST /mutate`` before FastAPI's routing, request and response
machinery, which would otherwise cost more than the admission work itself. FastAPI still declares both routes
(same code, reached only if the fast path is bypassed) so the OpenAPI document is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi import Response as HTTPResponse

from webhook import __version__
from webhook.rules import releases, wording
from webhook.rules.enforcement import Enforcement
from webhook.rules.ruleset import ruleset
from webhook.serve import admission, handlers, metrics, models
from webhook.serve.cluster_checks import Cluster
from webhook.serve.logs import RequestLog
from webhook.serve.review import AdmissionFastPath, Message, review
from webhook.serve.settings import Settings
from webhook.serve.tls import CertWatcher

if TYPE_CHECKING:
    from webhook.serve.clusterview import ClusterView

log = logging.getLogger("webhook.admission")


_REF = "#/components/schemas/{model}"
_REVIEW_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="AdmissionReviewRequest")}}},
    },
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": models.AdmissionReviewResponse, "description": "The review, answered."},
    400: {"model": models.Status, "description": "Not a usable AdmissionReview."},
    413: {"model": models.Status, "description": "Body over 7 MiB."},
    415: {"model": models.Status, "description": "Not JSON."},
}


def create_app(certs: CertWatcher | None = None, settings: Settings | None = None) -> AdmissionFastPath:
    """The ASGI application. ``certs`` is the process's certificate watcher, when serving TLS; ``settings`` give the
    default enforcement mode, the cluster's Kubernetes version and the aiven-operator release it runs."""
    request_log = RequestLog(log, "admission review")
    settings = settings or Settings()
    rules = ruleset(releases.parse(settings.operator_version), wording.for_version(settings.kubernetes_version))
    view = _cluster_view(settings)
    cluster: Cluster | None = view
    webhooks = handlers.webhooks(Enforcement(settings.enforcement), rules, cluster=cluster)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(request_log.run()), asyncio.create_task(metrics.publish())]
        if certs is not None:
            certs.on_reload.append(lambda ok: metrics.certificate_loaded(ok, certs.not_after_timestamp))
            metrics.CERT_EXPIRY.set(certs.not_after_timestamp or 0)
            tasks.append(asyncio.create_task(certs.watch()))
        if view is not None:
            view.start()  # in its own thread; the server is ready without waiting for it (see readyz)
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if view is not None:
            await asyncio.to_thread(view.stop)
        metrics.process_exited(os.getpid())

    api = FastAPI(
        title="connectionpool-webhook",
        version=__version__,
        description="Validating and mutating admission webhook for aiven.io/v1alpha1 ConnectionPool.",
        lifespan=lifespan,
    )
    openapi = api.openapi

    def openapi_with_request_models() -> dict[str, Any]:
        # The request body is documented from the envelope the server checks (the route reads raw bytes).
        if api.openapi_schema is None:
            doc = openapi()
            doc.setdefault("components", {}).setdefault("schemas", {})["AdmissionReviewRequest"] = (
                admission.openapi_schema()
            )
        return api.openapi_schema or {}

    api.openapi = openapi_with_request_models  # type: ignore[method-assign]

    def route(path: str, summary: str) -> None:
        webhook = webhooks[path]

        async def endpoint(request: Request) -> HTTPResponse:
            replies: list[Message] = []

            async def collect(message: Message) -> None:
                replies.append(message)

            await review(request.scope, request.receive, collect, webhook, request_log)
            if not replies:
                return HTTPResponse(status_code=400)
            return HTTPResponse(replies[1]["body"], replies[0]["status"], media_type="application/json")

        api.add_api_route(path, endpoint, methods=["POST"], summary=summary, openapi_extra=_REVIEW_DOC,
                          responses=_RESPONSES, response_class=HTTPResponse)

    route("/validate", "Validate a ConnectionPool (validating webhook), in the server's enforcement mode")
    for mode in Enforcement:
        route(f"/validate/{mode}", f"Validate a ConnectionPool in {mode} mode (per-namespace enforcement)")
    route("/mutate", "Default a ConnectionPool (mutating webhook)")

    @api.get("/healthz", summary="Liveness: the process is serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Readiness does not wait for the view of the cluster: a webhook that cannot start because the apiserver is slow
    # or unreachable would block the apiserver's own writes; until the view is synced its checks are skipped.
    @api.get("/readyz", summary="Readiness: certificates are loaded", responses={503: {"model": models.Status}})
    async def readyz() -> HTTPResponse:
        if certs is not None and not certs.ready:
            body = admission.failure_status(503, "ServiceUnavailable", "serving certificate not loaded")
            return HTTPResponse(body, 503, media_type="application/json")
        return HTTPResponse(b'{"status":"ok"}', 200, media_type="application/json")

    @api.get("/metrics", summary="Prometheus metrics", response_class=HTTPResponse)
    async def prometheus_metrics() -> HTTPResponse:
        return HTTPResponse(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    return AdmissionFastPath(api, request_log, webhooks)


def _cluster_view(settings: Settings) -> ClusterView | None:
    """The view of the cluster the checks read, with ``--cluster-checks``. With ``--workers N`` every worker builds
    its own app, so each worker runs its own view: its own list, watch and Secret lookups."""
    if not settings.cluster_checks:
        return None
    # Imported only here: the Kubernetes client costs the server start-up time it does not need without the checks.
    from webhook.serve.clusterview import ClusterView  # noqa: PLC0415

    return ClusterView(settings.kubeconfig, settings.context, settings.cluster_timeout)
