"""A client that talks to the server as the apiserver does: HTTPS on loopback, verified for the service's name."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import SERVICE_NAME


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_context(ca_file: Path, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """HTTPS client that dials 127.0.0.1 but verifies the certificate for the service's DNS name."""

    def __init__(self, port: int, ca_file: Path, server_name: str = SERVICE_NAME,
                 cert: tuple[Path, Path] | None = None, timeout: float = 10.0) -> None:
        self.port, self.server_name, self.timeout = port, server_name, timeout
        self.context = client_context(ca_file, cert)
        self._conn: http.client.HTTPConnection | None = None

    def connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        return self.context.wrap_socket(raw, server_hostname=self.server_name)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn.sock = self.connect()
            self._conn = conn
        return self._conn

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """One request on a kept-alive connection (a new one if the server closed it)."""
        conn = self._connection()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        if resp.will_close:
            self.close()
        return reply

    def post(self, path: str, review: Any, content_type: str = "application/json") -> Reply:
        body = review if isinstance(review, bytes) else json.dumps(review).encode()
        return self.request("POST", path, body, {"Content-Type": content_type})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def answer(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The ``response`` of the AdmissionReview the server answers ``body`` with (HTTP 200 required)."""
    reply = client.post(path, body)
    assert reply.status == 200, reply.body
    response: dict[str, Any] = reply.json()["response"]
    return response
