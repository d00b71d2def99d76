"""A stand-in for the kube-apiserver's list API of connectionpools, over real TLS on loopback.

It answers ``GET /apis/aiven.io/v1alpha1/connectionpools`` and ``.../namespaces/{ns}/connectionpools`` as the
apiserver does: a ``ConnectionPoolList`` page of at most ``limit`` items, with an opaque ``metadata.continue`` token
while more remain, ``Status`` bodies for 401/403/404/410, bearer-token authentication. Every request is recorded;
a test can have a given request answered otherwise (``canned``).
"""

from __future__ import annotations

import base64
import copy
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.support import DATA

STORED = DATA / "audit"
PREFIX = "/apis/aiven.io/v1alpha1"


def stored(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """An object shaped like one a real apiserver stored (tests/data/audit, captured on v1.28); ``spec`` overrides
    fields (None removes one)."""
    obj: dict[str, Any] = json.loads((STORED / "stored-connectionpool.json").read_text())
    obj["metadata"].update(name=name, namespace=namespace, uid=f"uid-{namespace}-{name}")
    for key, value in spec.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


class FakeApiserver:
    def __init__(self, cert_dir: Path, objects: list[dict[str, Any]], token: str = "good-token") -> None:
        self.objects = objects
        self.token = token
        self.forbidden_tokens = {"forbidden-token"}
        self.crd_installed = True
        self.expire_continue = False  # answer 410 Expired to the next request that carries a continue token
        # Answers given instead, by the request's index (0 for the first): (status code, a body to send as JSON,
        # or bytes to send as they are, or None for none).
        self.canned: dict[int, tuple[int, Any]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiserver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, Any]:
        self.requests.append((path, query))
        if len(self.requests) - 1 in self.canned:
            return self.canned[len(self.requests) - 1]
        if auth != f"Bearer {self.token}":
            if auth and auth.removeprefix("Bearer ") in self.forbidden_tokens:
                return 403, status(403, "Forbidden", 'connectionpools.aiven.io is forbidden: User '
                                   '"system:serviceaccount:default:nobody" cannot list resource "connectionpools" '
                                   'in API group "aiven.io" at the cluster scope')
            return 401, status(401, "Unauthorized", "Unauthorized")
        parts = path.removeprefix(PREFIX).strip("/").split("/")
        if not self.crd_installed:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        if parts == ["connectionpools"]:
            items = self.objects
        elif len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "connectionpools":
            items = [o for o in self.objects if o["metadata"]["namespace"] == parts[1]]
        else:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        start = 0
        if "continue" in query:
            if self.expire_continue:
                self.expire_continue = False
                return 410, status(410, "Expired", "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the continue parameter.")
            start = int(base64.b64decode(query["continue"][0]))
        limit = int(query.get("limit", ["0"])[0]) or len(items)
        page = items[start:start + limit]
        metadata: dict[str, Any] = {"resourceVersion": "4242"}
        if start + limit < len(items):
            metadata["continue"] = base64.b64encode(str(start + limit).encode()).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        return 200, {"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPoolList", "metadata": metadata,
                     "items": copy.deepcopy(page)}

    def kubeconfig(self, path: Path, ca_file: Path, *, token: str | None = None, namespace: str = "team-a") -> Path:
        """A kubeconfig with three contexts: ``main`` (the current one, in ``namespace``), ``team-b`` (the same user
        in namespace team-b) and ``nobody`` (a forbidden token, no namespace)."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "main",
            "clusters": [{"name": "local", "cluster": {"server": self.url, "certificate-authority": str(ca_file)}}],
            "users": [{"name": "admin", "user": {"token": token or self.token}},
                      {"name": "nobody", "user": {"token": "forbidden-token"}}],
            "contexts": [{"name": "main", "context": {"cluster": "local", "user": "admin", "namespace": namespace}},
                         {"name": "team-b", "context": {"cluster": "local", "user": "admin", "namespace": "team-b"}},
                         {"name": "nobody", "context": {"cluster": "local", "user": "nobody"}}],
        }
        path.write_text(yaml.safe_dump(config))
        return path


def _handler(fake: FakeApiserver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            code, body = fake.answer(url.path, parse_qs(url.query), self.headers.get("Authorization"))
            data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
