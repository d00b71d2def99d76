"""uvicorn's HTTP/1.1 protocol with deadlines and a graceful drain: what every connection of the server speaks.

The fast lane (:mod:`webhook.serve.fastlane`) builds on it; :mod:`webhook.serve.server` configures uvicorn with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("webhook.server")


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
