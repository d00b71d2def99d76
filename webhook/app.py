"""The HTTP application: FastAPI for routes, health and docs, with a raw ASGI fast path for the two webhooks.

The fast path answers ``POST /validate`` and ``POST /mutate`` before FastAPI's routing, request and response
machinery, which would otherwise cost more than the admission work itself. FastAPI still declares both routes
(same code, reached only if the fast path is bypassed) so the OpenAPI document is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi import Response as HTTPResponse

from webhook import __version__, admission, models
from webhook.handlers import WEBHOOKS, Webhook
from webhook.settings import MAX_BODY_BYTES, Settings
from webhook.tls import CertWatcher

log = logging.getLogger("webhook.admission")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request was complete: there is nobody to answer."""


class Refused(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _is_json(content_type: bytes | None) -> bool:
    if content_type == b"application/json":
        return True
    if not content_type:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


async def read_body(scope: Scope, receive: Receive, timeout: float) -> bytes:
    """The request body, after the HTTP-level checks; raises :class:`Refused` or :class:`ClientGone`."""
    content_type = content_length = None
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value
        elif key == b"content-length":
            content_length = value
    if not _is_json(content_type):
        shown = content_type.decode("latin-1") if content_type else "none"
        raise Refused(415, "UnsupportedMediaType", f"Content-Type must be application/json, got {shown}")
    if content_length is not None and int(content_length) > MAX_BODY_BYTES:
        raise Refused(413, "RequestEntityTooLarge", f"body is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(timeout):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            if not message.get("more_body", False) and not chunks:
                if len(chunk) > MAX_BODY_BYTES:  # only reachable without a Content-Length
                    raise Refused(413, "RequestEntityTooLarge", f"body is larger than {MAX_BODY_BYTES} bytes")
                return chunk  # the usual case: the whole body in one message
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise Refused(413, "RequestEntityTooLarge", f"body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def answer(body: bytes, webhook: Webhook) -> tuple[int, bytes]:
    """Decode, judge and encode one AdmissionReview: (HTTP status, response body)."""
    started = time.perf_counter()
    try:
        request = admission.decode(body)
    except admission.BadReview as exc:
        return 400, admission.failure_status(400, "BadRequest", str(exc))
    try:
        response = webhook.handler(request)
    except Exception:
        log.exception("handler failed", extra={"fields": {"uid": request.uid, "webhook": webhook.name}})
        response = admission.errored("internal error while reviewing the object; see the webhook's logs")
    encoded = admission.encode(request, response)
    if log.isEnabledFor(logging.INFO):
        log.info(
            "admission review",
            extra={"fields": {
                "uid": request.uid,
                "webhook": webhook.name,
                "operation": request.operation,
                "namespace": request.namespace,
                "name": request.name,
                "user": request.username,
                "dryRun": request.dry_run,
                "allowed": response.allowed,
                "errors": response.errors,
                "patchOps": len(response.patch),
                "latencyMs": round((time.perf_counter() - started) * 1000, 3),
            }},
        )
    return 200, encoded


_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


async def respond(send: Send, status: int, body: bytes, close: bool = False) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    if close:
        headers.append(_CLOSE)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def review(scope: Scope, receive: Receive, send: Send, webhook: Webhook, timeout: float) -> None:
    """One webhook call, start to finish; every outcome is an answer, never an exception."""
    try:
        body = await read_body(scope, receive, timeout)
    except ClientGone:
        return
    except Refused as exc:
        # The rest of a refused body is not read: close instead of draining it.
        await respond(send, exc.code, admission.failure_status(exc.code, exc.reason, exc.message), close=True)
        return
    except TimeoutError:
        message = f"request body not received within {timeout:g}s"
        await respond(send, 408, admission.failure_status(408, "Timeout", message), close=True)
        return
    except ValueError:  # Content-Length that is not a number
        await respond(send, 400, admission.failure_status(400, "BadRequest", "invalid Content-Length"), close=True)
        return
    status, encoded = answer(body, webhook)
    await respond(send, status, encoded)


class AdmissionFastPath:
    """ASGI app in front of FastAPI that takes the two webhook routes directly."""

    def __init__(self, app: FastAPI, request_timeout: float) -> None:
        self.app = app
        self.request_timeout = request_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            webhook = WEBHOOKS.get(scope["path"])
            if webhook is not None:
                await review(scope, receive, send, webhook, self.request_timeout)
                return
        await self.app(scope, receive, send)


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
    408: {"model": models.Status, "description": "The body did not arrive in time."},
    413: {"model": models.Status, "description": "Body over 7 MiB."},
    415: {"model": models.Status, "description": "Not JSON."},
}


def create_app(settings: Settings | None = None, certs: CertWatcher | None = None) -> AdmissionFastPath:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(certs.watch()) if certs is not None else None
        yield
        if watcher is not None:
            watcher.cancel()

    api = FastAPI(
        title="connectionpool-webhook",
        version=__version__,
        description="Validating and mutating admission webhook for aiven.io/v1alpha1 ConnectionPool.",
        lifespan=lifespan,
    )
    openapi = api.openapi

    def openapi_with_request_models() -> dict[str, Any]:
        # The request body is documented by hand (the route reads raw bytes), so add its models ourselves.
        if api.openapi_schema is None:
            doc = openapi()
            request_schema = models.AdmissionReviewRequest.model_json_schema(ref_template=_REF)
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            components.update(request_schema.pop("$defs", {}))
            components["AdmissionReviewRequest"] = request_schema
        return api.openapi_schema or {}

    api.openapi = openapi_with_request_models  # type: ignore[method-assign]

    def route(path: str, summary: str) -> None:
        webhook = WEBHOOKS[path]
        async def endpoint(request: Request) -> HTTPResponse:
            replies: list[Message] = []

            async def collect(message: Message) -> None:
                replies.append(message)

            await review(request.scope, request.receive, collect, webhook, settings.request_timeout)
            if not replies:
                return HTTPResponse(status_code=400)
            return HTTPResponse(replies[1]["body"], replies[0]["status"], media_type="application/json")

        api.add_api_route(path, endpoint, methods=["POST"], summary=summary, openapi_extra=_REVIEW_DOC,
                          responses=_RESPONSES, response_class=HTTPResponse)

    route("/validate", "Validate a ConnectionPool (validating webhook)")
    route("/mutate", "Default a ConnectionPool (mutating webhook)")

    @api.get("/healthz", summary="Liveness: the process is serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", summary="Readiness: certificates are loaded", responses={503: {"model": models.Status}})
    async def readyz() -> HTTPResponse:
        if certs is not None and not certs.ready:
            body = admission.failure_status(503, "ServiceUnavailable", "serving certificate not loaded")
            return HTTPResponse(body, 503, media_type="application/json")
        return HTTPResponse(b'{"status":"ok"}', 200, media_type="application/json")

    return AdmissionFastPath(api, settings.request_timeout)
