"""A stand-in for the kube-apiserver's list API of connectionpools, over real TLS on loopback.

It answers ``GET /apis/aiven.io/v1alpha1/connectionpools`` and ``.../namespaces/{ns}/connectionpools`` as the
apiserver does: a ``ConnectionPoolList`` page of at most ``limit`` items, with an opaque ``metadata.continue`` token
while more remain, ``Status`` bodies for 401/403/404/410, bearer-token authentication. Every request is recorded.

For the policy-report outputs it also serves Namespaces (``GET /api/v1/namespaces``, by label selector, and one by
name) and the two report APIs (``policyreports.wgpolicyk8s.io/v1alpha2``, ``reports.openreports.io/v1alpha1``: list
by label selector, get, create, replace with a resourceVersion, delete), checking what is written against the CRD's
schema (tests/data/reports) and etcd's size limit as a real cluster would.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import yaml

from tests.support import DATA

STORED = DATA / "audit"
PREFIX = "/apis/aiven.io/v1alpha1"
# The report APIs: resource -> (path prefix, kind).
REPORT_APIS = {"policyreports": ("/apis/wgpolicyk8s.io/v1alpha2", "PolicyReport"),
               "reports": ("/apis/openreports.io/v1alpha1", "Report")}
REPORT_SCHEMAS = {
    resource: jsonschema.Draft202012Validator(json.loads((DATA / "reports" / name).read_text()))
    for resource, name in (("policyreports", "policyreport-v1alpha2.schema.json"),
                           ("reports", "openreports-report-v1alpha1.schema.json"))
}
ETCD_MAX_REQUEST = 1536 * 1024  # etcd's default --max-request-bytes: 1.5 MiB
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "DELETE": "delete"}


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
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._init_reports(objects)
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

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, dict[str, Any]]:
        self.requests.append((path, query))
        if auth != f"Bearer {self.token}":
            if auth and auth.removeprefix("Bearer ") in self.forbidden_tokens:
                return 403, status(403, "Forbidden", 'connectionpools.aiven.io is forbidden: User '
                                   '"system:serviceaccount:default:nobody" cannot list resource "connectionpools" '
                                   'in API group "aiven.io" at the cluster scope')
            return 401, status(401, "Unauthorized", "Unauthorized")
        if not path.startswith(PREFIX + "/"):
            return self.answer_reports("GET", path, query, None)
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

    # --- Namespaces and the report APIs, for audit --output policyreport|openreports [--apply] ----------------------

    def _init_reports(self, objects: list[dict[str, Any]]) -> None:
        # Namespace name -> labels; every namespace the objects are in exists, unlabelled.
        self.namespaces: dict[str, dict[str, str]] = {o["metadata"]["namespace"]: {} for o in objects}
        # What the good token may not touch, by resource ("namespaces", "policyreports", "reports"): 403.
        self.refused: set[str] = set()
        # The report CRDs installed, by resource; a missing one answers 404 as an apiserver without it does.
        self.report_crds: set[str] = set(REPORT_APIS)
        # (resource, namespace, name) -> the stored report.
        self.reports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.conflict_next_replace = False  # answer 409 Conflict to the next PUT, as if someone wrote meanwhile
        self.writes: list[tuple[str, str]] = []  # (method, path) of every POST, PUT and DELETE
        self._versions = itertools.count(5000)

    def store_report(self, resource: str, report: dict[str, Any]) -> dict[str, Any]:
        """Put ``report`` in the store as if someone had created it."""
        stored = copy.deepcopy(report)
        metadata = stored.setdefault("metadata", {})
        metadata.update(uid=f"uid-report-{metadata['namespace']}-{metadata['name']}",
                        resourceVersion=str(next(self._versions)), creationTimestamp="2026-12-01T10:00:00Z")
        self.reports[(resource, metadata["namespace"], metadata["name"])] = stored
        return stored

    def answer_reports(self, method: str, path: str, query: dict[str, list[str]],
                       body: bytes | None) -> tuple[int, dict[str, Any]]:
        """Namespaces and the report APIs (authentication already checked)."""
        if path.startswith("/api/v1/namespaces"):
            return self._namespaces(method, path, query)
        for resource, (prefix, kind) in REPORT_APIS.items():
            if path.startswith(prefix + "/"):
                if resource not in self.report_crds:
                    return 404, status(404, "NotFound", "the server could not find the requested resource")
                if resource in self.refused:
                    return 403, status(403, "Forbidden", f'{resource}.{prefix.split("/")[2]} is forbidden: User '
                                       f'"system:serviceaccount:webhooks:audit" cannot {VERBS[method]} resource '
                                       f'"{resource}" in API group "{prefix.split("/")[2]}"')
                return self._reports(method, path.removeprefix(prefix), query, body, resource=resource, kind=kind)
        return 404, status(404, "NotFound", "the server could not find the requested resource")

    def _namespaces(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = path.removeprefix("/api/v1/namespaces").strip("/").split("/")
        if "namespaces" in self.refused:
            verb = "list" if parts == [""] else "get"
            return 403, status(403, "Forbidden", 'namespaces is forbidden: User "system:serviceaccount:webhooks:'
                               f'audit" cannot {verb} resource "namespaces" in API group "" at the cluster scope')
        if method != "GET":
            return 405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource")
        if parts == [""]:
            selected = {name: labels for name, labels in self.namespaces.items()
                        if _selects(query.get("labelSelector", [""])[0], labels)}
            return 200, {"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "4242"},
                         "items": [_namespace(name, labels) for name, labels in sorted(selected.items())]}
        if len(parts) == 1 and parts[0] in self.namespaces:
            return 200, _namespace(parts[0], self.namespaces[parts[0]])
        return 404, status(404, "NotFound", f'namespaces "{parts[0]}" not found')

    def _reports(self, method: str, rest: str, query: dict[str, list[str]], body: bytes | None, *, resource: str,
                 kind: str) -> tuple[int, dict[str, Any]]:
        parts = rest.strip("/").split("/")
        prefix = REPORT_APIS[resource][0]
        group = prefix.split("/")[2]
        if parts == [resource] and method == "GET":
            return 200, self._report_list(resource, None, query)
        if len(parts) < 3 or parts[0] != "namespaces" or parts[2] != resource:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        namespace = parts[1]
        if len(parts) == 3:
            if method == "GET":
                return 200, self._report_list(resource, namespace, query)
            if method == "POST":
                self.writes.append((method, f"{prefix}/{rest.strip('/')}"))
                report = json.loads(body or b"{}")
                name = report.get("metadata", {}).get("name", "")
                if (resource, namespace, name) in self.reports:
                    return 409, status(409, "AlreadyExists", f'{resource}.{group} "{name}" already exists')
                invalid = self._invalid(resource, report, body or b"")
                if invalid:
                    return invalid
                return 201, self.store_report(resource, report)
            return 405, status(405, "MethodNotAllowed", "the server does not allow this method")
        name = parts[3]
        if method != "GET":
            self.writes.append((method, f"{prefix}/{rest.strip('/')}"))
        stored = self.reports.get((resource, namespace, name))
        missing = 404, {**status(404, "NotFound", f'{resource}.{group} "{name}" not found'),
                        "details": {"name": name, "group": group, "kind": resource}}
        if method == "GET":
            return (200, copy.deepcopy(stored)) if stored else missing
        if method == "DELETE":
            if not stored:
                return missing
            del self.reports[(resource, namespace, name)]
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "group": group, "kind": resource, "uid": stored["metadata"]["uid"]}}
        if method == "PUT":
            if not stored:
                return missing
            report = json.loads(body or b"{}")
            version = report.get("metadata", {}).get("resourceVersion")
            if not version:
                return 422, status(422, "Invalid", f'{kind}.{group} "{name}" is invalid: metadata.resourceVersion: '
                                   "Invalid value: 0x0: must be specified for an update")
            if self.conflict_next_replace or version != stored["metadata"]["resourceVersion"]:
                self.conflict_next_replace = False
                stored["metadata"]["resourceVersion"] = str(next(self._versions))
                return 409, status(409, "Conflict", f'Operation cannot be fulfilled on {resource}.{group} "{name}": '
                                   "the object has been modified; please apply your changes to the latest version "
                                   "and try again")
            invalid = self._invalid(resource, report, body or b"")
            if invalid:
                return invalid
            report["metadata"].update(uid=stored["metadata"]["uid"], resourceVersion=str(next(self._versions)),
                                      creationTimestamp=stored["metadata"]["creationTimestamp"])
            self.reports[(resource, namespace, name)] = report
            return 200, copy.deepcopy(report)
        return 405, status(405, "MethodNotAllowed", "the server does not allow this method")

    def _report_list(self, resource: str, namespace: str | None, query: dict[str, list[str]]) -> dict[str, Any]:
        selector = query.get("labelSelector", [""])[0]
        items = [copy.deepcopy(r) for (res, ns, _), r in sorted(self.reports.items())
                 if res == resource and (namespace is None or ns == namespace)
                 and _selects(selector, r["metadata"].get("labels") or {})]
        start = int(base64.b64decode(query["continue"][0])) if "continue" in query else 0
        limit = int(query.get("limit", ["0"])[0]) or len(items)
        metadata: dict[str, Any] = {"resourceVersion": "4242"}
        if start + limit < len(items):
            metadata["continue"] = base64.b64encode(str(start + limit).encode()).decode()
        prefix = REPORT_APIS[resource][0]
        return {"apiVersion": prefix.removeprefix("/apis/"), "kind": REPORT_APIS[resource][1] + "List",
                "metadata": metadata, "items": items[start:start + limit]}

    def _invalid(self, resource: str, report: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]] | None:
        """What the apiserver refuses: a body etcd would not store, or a report its CRD's schema does not allow."""
        if len(body) > ETCD_MAX_REQUEST:
            return 500, status(500, "InternalError", "etcdserver: request is too large")
        errors = sorted(REPORT_SCHEMAS[resource].iter_errors(report), key=lambda e: list(e.absolute_path))
        if errors:
            where = ".".join(str(p) for p in errors[0].absolute_path)
            return 422, status(422, "Invalid", f"{report.get('kind')} is invalid: {where}: {errors[0].message}")
        return None

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


def _namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": f"uid-ns-{name}", "resourceVersion": "42",
                         "labels": {"kubernetes.io/metadata.name": name, **labels}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """A label selector of ``key`` (exists) and ``key=value`` terms, comma-separated (all that the tools send)."""
    for term in filter(None, selector.split(",")):
        key, eq, value = term.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _handler(fake: FakeApiserver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            code, body = fake.answer(url.path, parse_qs(url.query), self.headers.get("Authorization"))
            self._send(code, body)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        # The report APIs' writes.
        def _write(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._send(401, status(401, "Unauthorized", "Unauthorized"))
                return
            self._send(*fake.answer_reports(self.command, url.path, parse_qs(url.query), body))

        def do_POST(self) -> None:
            self._write()

        def do_PUT(self) -> None:
            self._write()

        def do_DELETE(self) -> None:
            self._write()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
