"""The webhook routes answered inside uvicorn's HTTP protocol, before any ASGI scope, task or message exists.

For each request uvicorn builds an ASGI call: a task, an Event, ``receive`` and ``send`` coroutines, message dicts,
and two writes (head, then body), which become two TLS records and two system calls. For ``POST /validate`` and
``/mutate`` that machinery costs more than the review itself. Here such a request's body is collected as the parser
delivers it and, once complete, answered in place by :func:`webhook.serve.review.answer`, the function the ASGI
path calls, in one write. Everything else (other routes, and the unusual: ``Expect: 100-continue``, HTTP/1.0, an
upgrade, a percent-encoded path, a request behind one still being answered) takes the ASGI path as before.

What the ASGI path guarantees holds here by the same code or the same rule:
- HTTP checks: :func:`webhook.serve.review.refused_by_headers` (415, 413 by Content-Length), 413 once the body read
  passes 7 MiB; a refusal closes the connection instead of reading the rest.
- request deadline, idle and keep-alive timers: :class:`webhook.serve.protocol.DeadlineProtocol`'s and uvicorn's,
  unchanged.
- graceful shutdown: a request being received is answered with ``Connection: close``, as are those that arrive
  while draining.
- metrics and the request log: ``metrics.REQUESTS`` as in :func:`webhook.serve.review.review` (499 for a client
  gone), the log line in :func:`webhook.serve.review.answer`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from webhook.serve import admission, metrics, review
from webhook.serve.handlers import Webhook
from webhook.serve.protocol import DeadlineProtocol
from webhook.serve.settings import MAX_BODY_BYTES

log = logging.getLogger("webhook.admission")


@dataclass(slots=True)
class _Busy:
    """What uvicorn reads of a request-response cycle, for a fast-lane answer still being made (see
    FastLaneProtocol._answer_later): not complete, so that it queues a pipelined request behind it."""

    keep_alive: bool
    response_complete: bool = False
    disconnected: bool = False
    message_event: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Call:
    """A webhook request whose body is being received."""

    webhook: Webhook
    started: float
    keep_alive: bool
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    answered: bool = False  # refused before its body was complete: the rest is ignored, the connection closing


class FastLaneProtocol(DeadlineProtocol):
    """:class:`DeadlineProtocol`, with the webhook routes of a :class:`webhook.serve.review.AdmissionFastPath` app
    answered in the protocol. Any other app (the benchmark's ceiling) is served through ASGI only."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._served = self.app if isinstance(self.app, review.AdmissionFastPath) else None
        self._call: _Call | None = None

    def on_message_begin(self) -> None:
        self._call = None
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        webhook = self._route()
        if webhook is None:
            super().on_headers_complete()
            return
        started = time.perf_counter()
        metrics.REQUESTS.started(webhook.name)
        self._call = _Call(webhook, started, keep_alive=not self._draining and self.parser.should_keep_alive())
        refused = review.refused_by_headers(self.headers)
        if refused is not None:
            self._refuse(refused)

    def on_body(self, body: bytes) -> None:
        call = self._call
        if call is None:
            super().on_body(body)
        elif not call.answered:
            call.size += len(body)
            if call.size > MAX_BODY_BYTES:
                self._refuse(review.too_large())
            else:
                call.chunks.append(body)

    def on_message_complete(self) -> None:
        call = self._call
        if call is None:
            super().on_message_complete()
            return
        self._request_received()
        if call.answered:
            return
        call.answered = True
        body = call.chunks[0] if len(call.chunks) == 1 else b"".join(call.chunks)
        code, operation, decision = 500, "unknown", "error"
        try:
            assert self._served is not None  # a call exists only when the app is served here
            answered = review.answer(body, call.webhook, call.started, self._served.request_log)
            if isinstance(answered, review.Pending):
                self._answer_later(call, answered)
                return
            code, encoded, operation, decision = answered
        except Exception:  # a bug below answer(): the ASGI path would send a 500 too, never a traceback
            log.exception("answering a review failed", extra={"fields": {"webhook": call.webhook.name}})
            encoded = admission.failure_status(500, "InternalError", "internal error; see the webhook's logs")
        self._reply(code, encoded, call.keep_alive)
        metrics.REQUESTS.finished(call.webhook.name, operation, decision, code, call.started)

    def _answer_later(self, call: _Call, pending: review.Pending) -> None:
        """The handler asks the cluster first: answer when it has. Meanwhile the connection counts as busy for
        uvicorn (a cycle whose response is not complete), so a request pipelined behind this one waits its turn in
        uvicorn's queue, and a graceful shutdown answers this one before it closes."""
        assert self._served is not None
        busy = _Busy(keep_alive=call.keep_alive)
        self.cycle = busy  # type: ignore[assignment]
        task = self.loop.create_task(review.answer_later(pending, call.webhook, call.started,
                                                         self._served.request_log))
        self.tasks.add(task)  # type: ignore[arg-type] # uvicorn waits for these at shutdown

        def answered(done: asyncio.Task[review.Answered]) -> None:
            self.tasks.discard(done)
            busy.response_complete = True
            code, encoded, operation, decision = done.result()  # answer_later never raises
            if self.transport.is_closing() or busy.disconnected:
                code = 499  # the client went away first: nobody to answer
            else:
                self._reply(code, encoded, busy.keep_alive)
            metrics.REQUESTS.finished(call.webhook.name, operation, decision, code, call.started)

        task.add_done_callback(answered)

    def connection_lost(self, exc: Exception | None) -> None:
        call, self._call = self._call, None
        if call is not None and not call.answered:  # the client went away mid-request: nobody to answer
            metrics.REQUESTS.finished(call.webhook.name, "unknown", "error", 499, call.started)
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._call is not None and not self._call.answered:
            # Answer the request being received, then close; as the ASGI path does with a request in flight.
            self._call.keep_alive = False
            self._draining = True
            return
        super().shutdown()

    def _route(self) -> Webhook | None:
        """The webhook this request is for, if it can take the fast lane."""
        if self._served is None or self.parser.get_method() != b"POST":
            return None
        if self.expect_100_continue or self.parser.get_http_version() != "1.1" or self.parser.should_upgrade():
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # an ASGI answer is still due on this connection: answers must go out in order
        return self._served.webhooks.get(self.url.partition(b"?")[0].decode("latin-1"))

    def _refuse(self, refused: review.Refused) -> None:
        call = self._call
        assert call is not None
        call.answered = True
        self._reply(refused.code, review.refusal(call.webhook, refused), keep_alive=False)
        metrics.REQUESTS.finished(call.webhook.name, "unknown", "error", refused.code, call.started)

    def _reply(self, code: int, body: bytes, keep_alive: bool) -> None:
        """The whole answer in one write: one TLS record, one system call."""
        if self.transport.is_closing():
            return
        head = [STATUS_LINE[code]]
        for name, value in self.server_state.default_headers:  # Date, as uvicorn keeps it current
            head += (name, b": ", value, b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n%s\r\n"
                    % (len(body), b"" if keep_alive else b"connection: close\r\n"))
        head.append(body)
        self.transport.write(b"".join(head))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()  # uvicorn's: count it, resume reading, arm the keep-alive timer
