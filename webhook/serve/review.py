"""One webhook call, bytes to bytes: the HTTP-level checks, decoding the review, the handler, the answer, the
request log line and the metrics. The ASGI path (:class:`AdmissionFastPath`, in front of the FastAPI app of
:mod:`webhook.serve.app`) and the fast lane (:mod:`webhook.serve.fastlane`) both answer through it, so both give the
same answer to the same bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, NamedTuple

from webhook.serve import admission, metrics
from webhook.serve.handlers import REVIEWS, Webhook
from webhook.serve.logs import RequestLog
from webhook.serve.settings import MAX_BODY_BYTES

log = logging.getLogger("webhook.admission")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request was complete: there is nobody to answer."""


class Refused(Exception):
    """Refused at the HTTP level, before any AdmissionReview was read."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def too_large() -> Refused:
    # A new exception each time: re-raising one shared instance grows its traceback with every raise, and that
    # traceback keeps each refused request's frames (and body chunks) alive.
    return Refused(413, "RequestEntityTooLarge", f"body is larger than {MAX_BODY_BYTES} bytes")


def _is_json(content_type: bytes | None) -> bool:
    if content_type == b"application/json":
        return True
    if not content_type:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def refused_by_headers(headers: Iterable[tuple[bytes, bytes]]) -> Refused | None:
    """What a webhook request's headers (lower-case names) earn before its body is read: 415, 413 or 400, or None."""
    content_type = content_length = None
    for key, value in headers:
        if key == b"content-type":
            content_type = value
        elif key == b"content-length":
            content_length = value
    if not _is_json(content_type):
        shown = content_type.decode("latin-1") if content_type else "none"
        return Refused(415, "UnsupportedMediaType", f"Content-Type must be application/json, got {shown}")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:  # httptools refuses these first; kept so that no header can escape as an exception
            return Refused(400, "BadRequest", "invalid Content-Length")
        if declared > MAX_BODY_BYTES:
            return too_large()
    return None


async def read_body(scope: Scope, receive: Receive) -> bytes:
    """The request body, after the HTTP-level checks; raises :class:`Refused` or :class:`ClientGone`.

    A client that stalls is cut off by the connection's request deadline (see ``webhook.serve.server``), which ends
    this read with a disconnect.
    """
    refused = refused_by_headers(scope["headers"])
    if refused is not None:
        raise refused
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if not more and not chunks:
            if len(chunk) > MAX_BODY_BYTES:  # only reachable without a Content-Length
                raise too_large()
            return chunk  # the usual case: the whole body in one message
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


def refusal(webhook: Webhook, refused: Refused) -> bytes:
    """Log a request refused before it could be reviewed, and the Status body that says why."""
    log.info("refused", extra={"fields": {"webhook": webhook.name, "code": refused.code, "error": refused.message}})
    return admission.failure_status(refused.code, refused.reason, refused.message)


def _decision(response: admission.Response) -> str:
    if response.allowed:
        return "patched" if response.patch else "allowed"
    return "error" if response.status is not None and response.status.get("code") == 500 else "denied"


Answered = tuple[int, bytes, str, str]  # HTTP status, response body, operation, decision


class Pending(NamedTuple):
    """A review whose handler must ask the cluster before it can answer: await :func:`answer_later`."""

    request: admission.Request
    response: Awaitable[admission.Response]


def answer(body: bytes, webhook: Webhook, started: float, request_log: RequestLog) -> Answered | Pending:
    """Decode, judge and encode one AdmissionReview, or say what is still to be awaited."""
    try:
        request = REVIEWS.decode(body)
    except admission.BadReview as exc:
        return 400, refusal(webhook, Refused(400, "BadRequest", str(exc))), "unknown", "error"
    try:
        response = webhook.handler(request)
    except Exception:
        response = _failed(request, webhook)
    if isinstance(response, admission.Response):
        return finish(request, response, webhook, started, request_log)
    return Pending(request, response)


async def answer_later(pending: Pending, webhook: Webhook, started: float, request_log: RequestLog) -> Answered:
    """The answer of a :class:`Pending` review, once the handler has it; never an exception."""
    try:
        response = await pending.response
    except Exception:
        response = _failed(pending.request, webhook)
    return finish(pending.request, response, webhook, started, request_log)


def _failed(request: admission.Request, webhook: Webhook) -> admission.Response:
    log.exception("handler failed", extra={"fields": {"uid": request.uid, "webhook": webhook.name}})
    return admission.errored("internal error while reviewing the object; see the webhook's logs")


def finish(request: admission.Request, response: admission.Response, webhook: Webhook, started: float,
           request_log: RequestLog) -> Answered:
    """Encode the answer, count it, log it."""
    encoded = admission.encode(request, response)
    decision = _decision(response)
    if response.errors and webhook.enforcement:
        metrics.REQUESTS.violated(webhook.name, webhook.enforcement)
    if request_log.enabled:
        # What was decided about which object, by whom; never the object's contents.
        request_log.write({
            "uid": request.uid,
            "webhook": webhook.name,
            "operation": request.operation,
            "namespace": request.namespace,
            "name": request.name,
            "user": request.username,
            "dryRun": request.dry_run,
            "decision": decision,
            "enforcement": webhook.enforcement,
            "errors": response.errors,
            "patchOps": len(response.patch),
            "latencyMs": int((time.perf_counter() - started) * 1_000_000) / 1000,  # whole microseconds
        })
    return 200, encoded, request.operation, decision


_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


def reply_messages(status: int, body: bytes, close: bool = False) -> tuple[Message, Message]:
    """The two ASGI messages of a JSON answer (built here, sent by the caller: one coroutine less per request)."""
    headers = [_JSON, (b"content-length", b"%d" % len(body))]
    if close:
        headers.append(_CLOSE)
    return {"type": "http.response.start", "status": status, "headers": headers}, {
        "type": "http.response.body", "body": body}


async def review(scope: Scope, receive: Receive, send: Send, webhook: Webhook, request_log: RequestLog) -> None:
    """One webhook call, start to finish; every outcome is an answer (or a client gone), never an exception."""
    started = time.perf_counter()
    metrics.REQUESTS.started(webhook.name)
    operation, decision, code = "unknown", "error", 499  # 499: the client went away first
    try:
        try:
            body = await read_body(scope, receive)
        except ClientGone:
            return
        except Refused as refused:
            code = refused.code
            # The rest of a refused body is not read: close instead of draining it.
            start, end = reply_messages(code, refusal(webhook, refused), close=True)
        else:
            answered = answer(body, webhook, started, request_log)
            if isinstance(answered, Pending):
                answered = await answer_later(answered, webhook, started, request_log)
            code, encoded, operation, decision = answered
            start, end = reply_messages(code, encoded)
        await send(start)
        await send(end)
    finally:
        metrics.REQUESTS.finished(webhook.name, operation, decision, code, started)


class AdmissionFastPath:
    """ASGI app in front of another (the FastAPI app) that takes the webhook routes directly."""

    def __init__(self, app: ASGIApp, request_log: RequestLog, webhooks: dict[str, Webhook]) -> None:
        self.app = app
        self.request_log = request_log
        self.webhooks = webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            webhook = self.webhooks.get(scope["path"])
            if webhook is not None:
                await review(scope, receive, send, webhook, self.request_log)
                return
        await self.app(scope, receive, send)
