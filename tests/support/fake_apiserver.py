"""A stand-in for the kube-apiserver, over real TLS on loopback: the connectionpools API (list and watch) and the
Secrets' GET, as ``audit`` and the server's view of the cluster use them.

- **List**: ``GET /apis/aiven.io/v1alpha1/connectionpools`` and ``.../namespaces/{ns}/connectionpools`` answer a
  ``ConnectionPoolList`` page of at most ``limit`` items, with an opaque ``metadata.continue`` token while more remain
  and the current ``resourceVersion``.
- **Watch**: the same paths with ``watch=1`` (or ``true``) stream JSON lines, one event per HTTP chunk
  (``{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": ...}``): the events after the given
  ``resourceVersion`` (none given: every object, as ADDED), then each change as the test makes it. The watch ends
  after ``timeoutSeconds``; BOOKMARKs go only to watches that asked (``allowWatchBookmarks=true``). A watch from a
  resourceVersion older than the history kept gets a 200 and one ERROR event whose object is a ``Status`` with code
  410 and reason ``Expired``, as the apiserver's watch cache answers (or, with ``expired_as_http``, an HTTP 410).
- **Secrets**: ``GET /api/v1/namespaces/{ns}/secrets/{name}`` answers the ``PartialObjectMetadata`` form
  (``meta.k8s.io/v1``, ``metadata`` only) when the Accept header asks for it, the whole Secret (with its data)
  otherwise, so a test can tell which was asked for; 404 ``NotFound`` when there is none.
- ``Status`` bodies for 401, 403, 404 and 410; bearer-token authentication; every request recorded (method, path,
  query, Accept header); a test can have a given GET answered otherwise (``canned``).

For the policy-report outputs it also serves Namespaces (``GET /api/v1/namespaces``, by label selector, and one by
name) and the two report APIs (``policyreports.wgpolicyk8s.io/v1alpha2``, ``reports.openreports.io/v1alpha1``: list
by label selector, get, create, replace with a resourceVersion, delete), checking what is written against the CRD's
schema (tests/data/reports) and etcd's size limit as a real cluster would.

Resource versions are one counter for everything, like etcd's revision: a change to any object (or
:meth:`FakeApiserver.advance`, standing for changes to other resources) moves it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import queue
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import orjson
import yaml

from tests.support import DATA

STORED = DATA / "audit"
PREFIX = "/apis/aiven.io/v1alpha1"
SECRETS = "/api/v1/namespaces/{namespace}/secrets/{name}"
PARTIAL_METADATA = "as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
FORBIDDEN_USER = "system:serviceaccount:default:nobody"
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


def audited_cluster() -> list[dict[str, Any]]:
    """Seven stored ConnectionPools in three namespaces, three of which the webhook would deny, each naming the Aiven
    token Secret ``aiven-token`` (:meth:`FakeApiserver.put_tokens`): the cluster the audit tests read."""
    return [
        stored("my-pool", "default"),
        stored("bogus-mode", "default", poolMode="bogus"),
        stored("float-size", "team-a", poolSize=1.5),  # stored as a number before the webhook was installed
        stored("ok-a", "team-a", connInfoSecretTarget={"name": "secret-a"}),
        stored("long-project", "team-b", project="p" * 64, username=None),
        stored("ok-b", "team-b"),
        stored("ok-c", "team-b"),
    ]


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details is not None:
        body["details"] = details
    return body


class Recorded(NamedTuple):
    method: str
    path: str
    query: dict[str, list[str]]
    accept: str


# What a watch's queue carries besides lines: end the stream as the apiserver does, or cut the connection.
_END, _DROP = "end", "drop"


class _Watch:
    def __init__(self, bookmarks: bool) -> None:
        self.bookmarks = bookmarks
        self.queue: queue.Queue[bytes | str] = queue.Queue()


class FakeApiserver:
    def __init__(self, cert_dir: Path, objects: list[dict[str, Any]] | None = None,
                 token: str = "good-token") -> None:
        self.token = token
        self.forbidden_tokens = {"forbidden-token"}
        self.crd_installed = True
        self.expire_continue = False  # answer 410 Expired to the next request that carries a continue token
        self.expired_as_http = False  # a watch from a compacted resourceVersion: HTTP 410, not an ERROR event
        self.refuse = False  # 403 to every request (RBAC taken away)
        self.secret_delay = 0.0  # seconds before answering a Secret's GET
        # Answers given instead, by the GET's index in ``requests`` (0 for the first): (status code, a body to send as
        # JSON, or bytes to send as they are, or None for none).
        self.canned: dict[int, tuple[int, Any]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []  # (path, query), as audit's tests read them
        self.recorded: list[Recorded] = []
        self.lock = threading.RLock()
        self.version = 1000
        self.objects: list[dict[str, Any]] = []
        for obj in objects or []:
            self.objects.append(self._stamped(copy.deepcopy(obj)))
        self.history: list[tuple[int, bytes]] = []  # (resourceVersion, the event's line)
        self.compacted = 0  # a watch from a resourceVersion below this one is too old (410)
        self.watches: list[_Watch] = []
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        # Lists in progress: a continue token names one, so that every page comes from the first page's snapshot.
        self.snapshots: dict[int, tuple[str, list[dict[str, Any]]]] = {}
        self._lists = itertools.count()
        self.connections: set[socket.socket] = set()
        self._init_reports(objects or [])
        self.cert_dir = cert_dir
        self.port = 0
        self._listen()

    def _listen(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_dir / "tls.crt", self.cert_dir / "tls.key")
        self.server = _Server(("127.0.0.1", self.port), _handler(self))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeApiserver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.go_away()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # --- what tests do to the cluster ---------------------------------------------------------------------------

    def create(self, obj: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        """Store a new object (with a resourceVersion, uid and creationTimestamp) and tell the watches: ADDED.
        ``notify=False`` keeps it out of the open watches (as if they missed it), not out of the history."""
        with self.lock:
            obj = self._stamped(copy.deepcopy(obj))
            self.objects.append(obj)
            self._emit("ADDED", obj, notify)
            return obj

    def update(self, obj: dict[str, Any], *, notify: bool = True) -> dict[str, Any]:
        """Replace the object of the same namespace and name: MODIFIED."""
        with self.lock:
            at = self._find(obj["metadata"]["namespace"], obj["metadata"]["name"])
            obj = copy.deepcopy(obj)
            obj["metadata"] = {**self.objects[at]["metadata"], **obj["metadata"]}
            obj = self._stamped(obj)
            self.objects[at] = obj
            self._emit("MODIFIED", obj, notify)
            return obj

    def delete(self, namespace: str, name: str, *, notify: bool = True) -> None:
        """Remove an object: DELETED, with the object as it last was, at a new resourceVersion."""
        with self.lock:
            obj = self._stamped(copy.deepcopy(self.objects.pop(self._find(namespace, name))))
            self._emit("DELETED", obj, notify)

    def load(self, objects: list[dict[str, Any]]) -> None:
        """Store many objects at once, as they are (not copied), without events: the state a cluster starts in."""
        with self.lock:
            self.objects.extend(self._stamped(obj) for obj in objects)

    def advance(self, steps: int = 1) -> int:
        """Move the resourceVersion without changing a ConnectionPool (other resources changed)."""
        with self.lock:
            self.version += steps
            return self.version

    def bookmark(self) -> int:
        """Send a BOOKMARK at the current resourceVersion to the watches that asked for bookmarks."""
        with self.lock:
            line = _line("BOOKMARK", {"kind": "ConnectionPool", "apiVersion": "aiven.io/v1alpha1",
                                      "metadata": {"resourceVersion": str(self.version)}})
            for watch in self.watches:
                if watch.bookmarks:
                    watch.queue.put(line)
            return self.version

    def expire_history(self) -> int:
        """Forget the history up to now, as etcd's compaction does: a watch from any resourceVersion before the
        next one gets 410 Gone (the open watches go on)."""
        with self.lock:
            self.version += 1
            self.compacted = self.version
            self.history.clear()
            return self.compacted

    def end_watches(self) -> None:
        """End the open watches as the apiserver does at their timeout (the stream's last chunk)."""
        self._tell_watches(_END)

    def drop_watches(self) -> None:
        """Cut the open watches' connections mid-stream."""
        self._tell_watches(_DROP)

    def go_away(self) -> None:
        """Stop listening, and cut every open connection (watches and kept-alive ones)."""
        self.drop_watches()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for connection in list(self.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        """Listen again on the same port, with the same objects."""
        self._listen()
        self.thread.start()

    def put_secret(self, namespace: str, name: str, *, controller: dict[str, Any] | None = None) -> dict[str, Any]:
        """A Secret with data, controlled by ``controller`` (an ownerReference, ``controller: true`` added)."""
        with self.lock:
            self.version += 1
            metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-secret-{namespace}-{name}",
                                        "resourceVersion": str(self.version),
                                        "creationTimestamp": "2026-11-26T09:00:00Z"}
            if controller is not None:
                metadata["ownerReferences"] = [{"blockOwnerDeletion": True, "uid": "uid-owner", **controller,
                                                "controller": True}]
            secret = {"kind": "Secret", "apiVersion": "v1", "metadata": metadata, "type": "Opaque",
                      "data": {"password": base64.b64encode(b"the secret itself").decode()}}
            self.secrets[namespace, name] = secret
            return secret

    def put_tokens(self) -> None:
        """The Aiven token Secret (``aiven-token``) in each namespace that holds a ConnectionPool."""
        for namespace in sorted({o["metadata"]["namespace"] for o in self.objects}):
            if (namespace, "aiven-token") not in self.secrets:
                self.put_secret(namespace, "aiven-token")

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

    def pool_requests(self) -> list[tuple[str, dict[str, list[str]]]]:
        """(path, query) of the requests for ConnectionPools, leaving out the Secrets' and the reports'."""
        return [(path, query) for path, query in self.requests if path.startswith(PREFIX + "/")]

    def secret_requests(self) -> list[Recorded]:
        return [r for r in self.recorded if "/secrets/" in r.path]

    def watch_requests(self) -> list[Recorded]:
        return [r for r in self.recorded if _is_watch(r.query)]

    # --- the state ----------------------------------------------------------------------------------------------

    def _stamped(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        metadata = obj.setdefault("metadata", {})
        metadata["resourceVersion"] = str(self.version)
        metadata.setdefault("uid", f"uid-{metadata.get('namespace')}-{metadata.get('name')}")
        metadata.setdefault("creationTimestamp", "2026-11-26T08:59:39Z")
        return obj

    def _find(self, namespace: str, name: str) -> int:
        for at, obj in enumerate(self.objects):
            if obj["metadata"]["namespace"] == namespace and obj["metadata"]["name"] == name:
                return at
        raise KeyError(f"{namespace}/{name}")

    def _emit(self, kind: str, obj: dict[str, Any], notify: bool) -> None:
        line = _line(kind, obj)
        self.history.append((self.version, line))
        if notify:
            for watch in self.watches:
                watch.queue.put(line)

    def _tell_watches(self, what: str) -> None:
        with self.lock:
            for watch in self.watches:
                watch.queue.put(what)

    # --- answering ----------------------------------------------------------------------------------------------

    def _refusal(self, auth: str | None, verb: str, resource: str, where: str) -> tuple[int, dict[str, Any]] | None:
        if auth != f"Bearer {self.token}":
            if auth and auth.removeprefix("Bearer ") in self.forbidden_tokens:
                return self._forbidden(verb, resource, where)
            return 401, status(401, "Unauthorized", "Unauthorized")
        if self.refuse:
            return self._forbidden(verb, resource, where)
        return None

    @staticmethod
    def _forbidden(verb: str, resource: str, where: str) -> tuple[int, dict[str, Any]]:
        what, group = resource.split(".", 1) if "." in resource else (resource, "")
        name = f'{what}.{group}' if group else what
        return 403, status(403, "Forbidden", f'{name} is forbidden: User "{FORBIDDEN_USER}" cannot {verb} resource '
                           f'"{what}" in API group "{group}" {where}')

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, dict[str, Any]]:
        """A list of connectionpools."""
        refused = self._refusal(auth, "list", "connectionpools.aiven.io", "at the cluster scope")
        if refused is not None:
            return refused
        if "continue" in query:
            if self.expire_continue:
                self.expire_continue = False
                return 410, status(410, "Expired", "The provided continue parameter is too old to display a "
                                   "consistent list result. You can start a new list without the continue parameter.")
            snapshot, start = json.loads(base64.b64decode(query["continue"][0]))
            version, items = self.snapshots[snapshot]
        else:
            scope = self._scope(path)
            if scope is None:
                return 404, status(404, "NotFound", "the server could not find the requested resource")
            (version, items), start = scope, 0
            snapshot = next(self._lists)
        limit = int(query.get("limit", ["0"])[0]) or len(items)
        page = items[start:start + limit]
        metadata: dict[str, Any] = {"resourceVersion": version}
        if start + limit < len(items):
            self.snapshots[snapshot] = version, items
            metadata["continue"] = base64.b64encode(json.dumps([snapshot, start + limit]).encode()).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        else:
            self.snapshots.pop(snapshot, None)
        return 200, {"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPoolList", "metadata": metadata,
                     "items": page}

    def _scope(self, path: str) -> tuple[str, list[dict[str, Any]]] | None:
        """The resourceVersion now and the objects a path names, read together; None: no such resource."""
        if not self.crd_installed:
            return None
        parts = path.removeprefix(PREFIX).strip("/").split("/")
        with self.lock:
            if parts == ["connectionpools"]:
                return str(self.version), list(self.objects)
            if len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "connectionpools":
                return str(self.version), [o for o in self.objects if o["metadata"]["namespace"] == parts[1]]
        return None

    def secret(self, namespace: str, name: str, accept: str, auth: str | None) -> tuple[int, dict[str, Any]]:
        refused = self._refusal(auth, "get", "secrets", f'in the namespace "{namespace}"')
        if refused is None and "secrets" in self.refused:  # RBAC without get on secrets
            refused = self._forbidden("get", "secrets", f'in the namespace "{namespace}"')
        if refused is not None:
            code, body = refused
            if code == 403:
                body["message"] = body["message"].replace("secrets is forbidden", f'secrets "{name}" is forbidden')
                body["details"] = {"name": name, "kind": "secrets"}
            return code, body
        if self.secret_delay:
            time.sleep(self.secret_delay)
        with self.lock:
            secret = copy.deepcopy(self.secrets.get((namespace, name)))
        if secret is None:
            return 404, status(404, "NotFound", f'secrets "{name}" not found', {"name": name, "kind": "secrets"})
        if PARTIAL_METADATA in accept.replace(" ", ""):
            return 200, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": secret["metadata"]}
        return 200, secret

    def serve_watch(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]],
                    auth: str | None) -> None:
        refused = self._refusal(auth, "watch", "connectionpools.aiven.io", "at the cluster scope")
        if refused is None and self._scope(path) is None:
            refused = 404, status(404, "NotFound", "the server could not find the requested resource")
        if refused is not None:
            _send_json(handler, *refused)
            return
        since = query.get("resourceVersion", [""])[0]
        timeout = float(query.get("timeoutSeconds", ["1800"])[0])
        watch = _Watch(bookmarks=query.get("allowWatchBookmarks", ["false"])[0] == "true")
        expired = None
        with self.lock:
            if since not in ("", "0") and int(since) < self.compacted:
                expired = status(410, "Expired", f"too old resource version: {since} ({self.compacted})")
            else:
                if since in ("", "0"):  # no version: every object as ADDED, then the changes
                    backlog = [_line("ADDED", obj) for obj in self.objects]
                else:
                    backlog = [line for version, line in self.history if version > int(since)]
                for line in backlog:
                    watch.queue.put(line)
                self.watches.append(watch)
        if expired is not None and self.expired_as_http:
            _send_json(handler, 410, expired)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            if expired is not None:
                _chunk(handler, _line("ERROR", expired))
            else:
                self._stream(handler, watch, time.monotonic() + timeout)
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away
            handler.close_connection = True
        finally:
            with self.lock:
                if watch in self.watches:
                    self.watches.remove(watch)

    @staticmethod
    def _stream(handler: BaseHTTPRequestHandler, watch: _Watch, deadline: float) -> None:
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                item = watch.queue.get(timeout=remaining)
            except queue.Empty:
                return
            if item == _END:
                return
            if item == _DROP:
                handler.close_connection = True
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
                raise OSError("dropped")
            assert isinstance(item, bytes)
            _chunk(handler, item)

    # --- Namespaces and the report APIs, for audit --output policyreport|openreports [--apply] ----------------------

    def _init_reports(self, objects: list[dict[str, Any]]) -> None:
        # Namespace name -> labels; every namespace the objects are in exists, unlabelled.
        self.namespaces: dict[str, dict[str, str]] = {o["metadata"]["namespace"]: {} for o in objects}
        # What the good token may not touch, by resource ("namespaces", "policyreports", "reports", "secrets"): 403.
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

def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": kind, "object": obj}) + b"\n"


def _chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _send_json(handler: BaseHTTPRequestHandler, code: int, body: Any) -> None:
    # orjson: the benchmark's lists of 100,000 objects; the stand-in must not be what is measured. Bytes go as they
    # are, None as an empty body (what a canned answer may be).
    data = body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


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


def _is_watch(query: dict[str, list[str]]) -> bool:
    return query.get("watch", [""])[0] in ("1", "true")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer (a cut watch, a timed-out lookup) is not the test's failure


def _handler(fake: FakeApiserver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # As Go's net/http does: without it, an event written right after the headers waits for a delayed ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with fake.lock:
                fake.connections.add(self.connection)

        def finish(self) -> None:
            with fake.lock:
                fake.connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            accept = self.headers.get("Accept", "")
            auth = self.headers.get("Authorization")
            fake.requests.append((url.path, query))
            fake.recorded.append(Recorded("GET", url.path, query, accept))
            if len(fake.requests) - 1 in fake.canned:
                _send_json(self, *fake.canned[len(fake.requests) - 1])
                return
            parts = url.path.split("/")
            if len(parts) == 7 and url.path.startswith("/api/v1/namespaces/") and parts[5] == "secrets":
                _send_json(self, *fake.secret(unquote(parts[4]), unquote(parts[6]), accept, auth))
            elif not url.path.startswith(PREFIX + "/"):
                self._reports("GET", url.path, query, None, auth)
            elif _is_watch(query):
                fake.serve_watch(self, url.path, query, auth)
            else:
                _send_json(self, *fake.answer(url.path, query, auth))

        # Namespaces and the report APIs, reads and writes.
        def _reports(self, method: str, path: str, query: dict[str, list[str]], body: bytes | None,
                     auth: str | None) -> None:
            if auth != f"Bearer {fake.token}":
                _send_json(self, 401, status(401, "Unauthorized", "Unauthorized"))
                return
            _send_json(self, *fake.answer_reports(method, path, query, body))

        def _write(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            fake.recorded.append(Recorded(self.command, url.path, query, self.headers.get("Accept", "")))
            self._reports(self.command, url.path, query, body, self.headers.get("Authorization"))

        def do_POST(self) -> None:
            self._write()

        def do_PUT(self) -> None:
            self._write()

        def do_DELETE(self) -> None:
            self._write()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
