"""The ceiling: a bare ASGI app that reads the body and sends a constant AdmissionReview, served like our server.

It is launched through our own ``serve`` path with only the app factory swapped (``serve``'s ``app_factory``), so
the options, settings, logging, TLS context (the same ``CertWatcher``), uvloop, the HTTP protocol, keep-alive and
worker handling are exactly the server's. What is left is the cost of uvicorn and TLS: the best a
Python server can do on this machine.

    python bench/ceiling.py --port 8443 --tls-cert tls.crt --tls-key tls.key [any other `serve` option]
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import webhook.serve.server
from webhook import cli

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The size of an "allowed" answer; a uid no request uses, so the benchmark can tell the ceiling answered.
RESPONSE = (
    b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",'
    b'"response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}'
)
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(RESPONSE)).encode())],
}
_BODY = {"type": "http.response.body", "body": RESPONSE}


async def ceiling(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":  # the server runs with lifespan="on", which needs an answer
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    # A webhook has to read the body before it can answer; so does the ceiling.
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send(_START)
    await send(_BODY)


def create_ceiling(*_: Any) -> Any:
    """The app factory uvicorn calls in each worker (the certificate watcher it is given is not needed)."""
    return ceiling


def main(argv: list[str]) -> None:
    webhook.serve.server.serve(cli.serve_settings(argv), app_factory=create_ceiling)


if __name__ == "__main__":
    main(sys.argv[1:])
