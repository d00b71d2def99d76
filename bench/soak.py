"""Soak the real HTTPS server under load while injecting faults; exit non-zero if anything went wrong.

``python bench/soak.py [--duration 300] [--connections 8] [--workers 1] [--out report.json]``

What it does, in order:

1. Makes three certificate sets with our own ``certs`` command (each with a NEW CA) and mounts the first one the way
   kubelet mounts a Secret: ``tls.crt -> ..data/tls.crt`` and ``..data -> ..<timestamp>``.
2. Starts ``connectionpool-webhook serve`` on 127.0.0.1 and puts load on it from ``--connections`` threads, each
   with a kept-alive TLS connection verified against a bundle of all three CAs (as a caBundle is updated *before*
   a rotation). Good requests (valid and invalid ``/validate``, ``/mutate`` whose patch is applied with
   ``jsonpatch``) are mixed with faults: clients that close or reset mid-request, clients that send a request and
   leave, bodies over 7 MiB (declared and chunked), malformed JSON, wrong content types.
3. Swaps the certificate twice, atomically, like kubelet does; a probe checks that a new connection then gets the
   new certificate (and verifies with only the new CA), while old connections keep working.
4. Samples the server's RSS after warm-up and at the end of the load.
5. Puts a batch of requests in flight (fully sent ones, and slow ones whose body is still arriving), sends SIGTERM,
   and checks every one is answered correctly and the process exits 0 within the graceful timeout.

Stdlib plus ``jsonpatch`` (a test dependency) only: the load must not depend on the code under test.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SERVER_NAME = "localhost"  # a SAN of the certificates; checked by the clients' hostname verification
MAX_BODY = 7 * 1024 * 1024  # the server's documented limit
OVERSIZE = MAX_BODY + 1024 * 1024
IO_TIMEOUT = 15.0  # per socket operation; generous, the machine is shared
MAX_ITERATIONS = 50_000_000  # a hard bound on every load loop, on top of the deadline
MIB = 1024 * 1024
# RSS may grow this much from warm-up to the end before we call it a leak: the larger of 20 MiB and 25 % of the
# start. A warmed-up worker (~60-70 MiB) moves a few MiB with allocator arenas, TLS buffers and the 7 MiB fault
# bodies passing through; a leak of even 50 bytes per request crosses 20 MiB in a 5-minute run (~0.5 M requests).
RSS_FLOOR_MIB = 20.0
RSS_FRACTION = 0.25

Check = Callable[["Reply"], str | None]


# --------------------------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class CertSet:
    """One CA and the serving certificate it signed, made by ``connectionpool-webhook certs``."""

    directory: Path

    @property
    def ca_pem(self) -> str:
        return (self.directory / "ca.crt").read_text()

    @property
    def fingerprint(self) -> str:
        der = ssl.PEM_cert_to_DER_cert((self.directory / "tls.crt").read_text())
        return hashlib.sha256(der).hexdigest()

    def context(self) -> ssl.SSLContext:
        """A client context that trusts only this set's CA."""
        return ssl.create_default_context(cadata=self.ca_pem)


def make_cert_set(directory: Path) -> CertSet:
    result = subprocess.run(
        [sys.executable, "-m", "webhook", "certs", "--out-dir", str(directory), "--dns-name", SERVER_NAME,
         "--ip", HOST],
        capture_output=True, text=True, check=False, timeout=60, cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"certs command failed: {result.stderr}")
    return CertSet(directory)


class SecretVolume:
    """A directory laid out like kubelet's Secret volume, so a swap is one atomic rename of the ``..data`` link."""

    FILES = ("ca.crt", "tls.crt", "tls.key")

    def __init__(self, root: Path, first: CertSet) -> None:
        self.root = root
        root.mkdir()
        self._generation = 0
        self._current = self._stage(first)
        (root / "..data").symlink_to(self._current.name)
        for name in self.FILES:
            (root / name).symlink_to(f"..data/{name}")

    def _stage(self, certs: CertSet) -> Path:
        self._generation += 1
        target = self.root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self._generation:09d}"
        target.mkdir()
        for name in self.FILES:
            shutil.copyfile(certs.directory / name, target / name)
        return target

    def swap(self, certs: CertSet) -> None:
        new = self._stage(certs)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(new.name)
        os.replace(tmp, self.root / "..data")
        # kubelet removes the old version right away; a reader holding it open still finishes its read.
        shutil.rmtree(self._current)
        self._current = new


# ------------------------------------------------------------------------------------------------- HTTP over TLS


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    will_close: bool

    def json(self) -> Any:
        return json.loads(self.body)


class Conn:
    """One verified TLS connection speaking HTTP/1.1 by hand, so a test can stop anywhere in a request."""

    def __init__(self, port: int, context: ssl.SSLContext, timeout: float = IO_TIMEOUT) -> None:
        raw = socket.create_connection((HOST, port), timeout=timeout)
        try:
            self.sock = context.wrap_socket(raw, server_hostname=SERVER_NAME)
        except BaseException:
            raw.close()
            raise
        der = self.sock.getpeercert(binary_form=True) or b""
        self.fingerprint = hashlib.sha256(der).hexdigest()
        self.requests = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> Reply:
        resp = http.client.HTTPResponse(self.sock)  # type: ignore[arg-type]  # reads via sock.makefile()
        try:
            resp.begin()
            body = resp.read()
        finally:
            resp.close()
        self.requests += 1
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body, bool(resp.will_close))

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN: an abrupt client."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def head(path: str, port: int, length: int | None, content_type: str | None = "application/json",
         chunked: bool = False) -> bytes:
    """Request headers the way the kube-apiserver sends them."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {SERVER_NAME}:{port}", "User-Agent: kube-apiserver-admission",
             "Accept: application/json, */*", "Accept-Encoding: gzip"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request_bytes(path: str, port: int, body: bytes, content_type: str | None = "application/json") -> bytes:
    return head(path, port, len(body), content_type) + body


# ---------------------------------------------------------------------------------------- good requests, checked


def connection_pool(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"databaseName": "defaultdb", "project": "soak-project", "serviceName": "soak-pg",
                            "username": "avnadmin", "poolMode": "transaction", "poolSize": 25}
    base.update(spec)
    return {
        "apiVersion": "aiven.io/v1alpha1",
        "kind": "ConnectionPool",
        "metadata": {"name": name, "namespace": "soak", "labels": {"app": "soak"}},
        "spec": {k: v for k, v in base.items() if v is not None},
    }


def admission_review(uid: str, obj: Any, operation: str = "CREATE", old: Any = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"},
        "resource": {"group": "aiven.io", "version": "v1alpha1", "resource": "connectionpools"},
        "requestKind": {"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"},
        "requestResource": {"group": "aiven.io", "version": "v1alpha1", "resource": "connectionpools"},
        "namespace": "soak",
        "operation": operation,
        "userInfo": {"username": "soak-user", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": f"{operation.title()}Options", "apiVersion": "meta.k8s.io/v1"},
    }
    named = obj if obj is not None else old
    request["name"] = named["metadata"]["name"]
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


def review_answer(reply: Reply, uid: str) -> tuple[dict[str, Any] | None, str | None]:
    """The ``response`` of a 200 AdmissionReview for ``uid``, or what is wrong with the reply."""
    if reply.status != 200:
        return None, f"HTTP {reply.status}"
    if reply.headers.get("content-type") != "application/json":
        return None, f"content-type {reply.headers.get('content-type')}"
    try:
        answer = reply.json()
    except ValueError:
        return None, "body is not JSON"
    if answer.get("kind") != "AdmissionReview" or answer.get("apiVersion") != "admission.k8s.io/v1":
        return None, "not an admission.k8s.io/v1 AdmissionReview"
    response = answer.get("response")
    if not isinstance(response, dict) or response.get("uid") != uid:
        return None, "response.uid does not match request.uid"
    return response, None


# Invalid objects and the field each must be rejected on.
DEFECTS: list[tuple[dict[str, Any], str]] = [
    ({"poolMode": "bogus"}, "spec.poolMode"),
    ({"project": "p" * 64}, "spec.project"),
    ({"username": None}, "spec.username"),
    ({"poolSize": "ten"}, "spec.poolSize"),
    ({"databaseName": "d" * 41}, "spec.databaseName"),
]


def good_request(kind: str, rng: random.Random, name: str, padding: int = 0) -> tuple[str, bytes, Check]:
    """A request the server must answer with 200 and a correct verdict: (path, body, check)."""
    uid = str(uuid.uuid4())
    obj = connection_pool(name)
    if padding:
        obj["metadata"]["annotations"] = {"soak.example.com/padding": "x" * padding}

    def allowed(reply: Reply) -> str | None:
        response, problem = review_answer(reply, uid)
        if response is None:
            return problem
        return None if response.get("allowed") is True else f"not allowed: {response.get('status')}"

    if kind == "validate-valid":
        return "/validate?timeout=10s", json.dumps(admission_review(uid, obj)).encode(), allowed
    if kind == "validate-update":
        old = copy.deepcopy(obj)
        old["spec"]["poolSize"] = 10
        return "/validate?timeout=10s", json.dumps(admission_review(uid, obj, "UPDATE", old)).encode(), allowed
    if kind == "validate-delete":
        return "/validate?timeout=10s", json.dumps(admission_review(uid, None, "DELETE", obj)).encode(), allowed
    if kind == "validate-invalid":
        defect, field_path = rng.choice(DEFECTS)
        obj = connection_pool(name, **defect)

        def denied(reply: Reply) -> str | None:
            response, problem = review_answer(reply, uid)
            if response is None:
                return problem
            status = response.get("status") or {}
            if response.get("allowed") is not False or status.get("code") != 422:
                return f"invalid object not denied with 422: {response}"
            causes = (status.get("details") or {}).get("causes") or []
            if field_path not in {c.get("field") for c in causes}:
                return f"denial does not name {field_path}: {causes}"
            return None

        return "/validate?timeout=10s", json.dumps(admission_review(uid, obj)).encode(), denied
    if kind in ("mutate-default", "mutate-keep"):
        if kind == "mutate-keep":
            obj["spec"]["connInfoSecretTarget"] = {"name": f"{name}-secret"}
        want = obj["spec"].get("connInfoSecretTarget", {}).get("name", name)

        def patched(reply: Reply) -> str | None:
            response, problem = review_answer(reply, uid)
            if response is None:
                return problem
            if response.get("allowed") is not True:
                return f"mutate denied: {response.get('status')}"
            result = obj
            if "patch" in response:
                if response.get("patchType") != "JSONPatch":
                    return f"patchType {response.get('patchType')}"
                try:
                    ops = json.loads(base64.b64decode(response["patch"], validate=True))
                    result = jsonpatch.JsonPatch(ops).apply(obj)
                except (ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
                    return f"patch does not apply: {exc}"
            got = result.get("spec", {}).get("connInfoSecretTarget", {}).get("name")
            if got != want:
                return f"connInfoSecretTarget.name is {got!r}, want {want!r}"
            rest = {k: v for k, v in result["spec"].items() if k != "connInfoSecretTarget"}
            if rest != {k: v for k, v in obj["spec"].items() if k != "connInfoSecretTarget"} or \
                    result["metadata"] != obj["metadata"]:
                return "patch changed more than spec.connInfoSecretTarget"
            return None

        return "/mutate?timeout=10s", json.dumps(admission_review(uid, obj)).encode(), patched
    raise ValueError(kind)


def status_check(code: int, keep_alive: bool | None) -> Check:
    """A refusal: the HTTP code, a meta/v1 Status body with that code, and whether the connection is closed."""

    def check(reply: Reply) -> str | None:
        if reply.status != code:
            return f"HTTP {reply.status}, want {code}: {reply.body[:200]!r}"
        try:
            status = reply.json()
        except ValueError:
            return "Status body is not JSON"
        if status.get("kind") != "Status" or status.get("code") != code:
            return f"not a Status with code {code}: {status}"
        if keep_alive is not None and reply.will_close == keep_alive:
            return f"connection {'closed' if reply.will_close else 'kept open'} after {code}"
        return None

    return check


# ------------------------------------------------------------------------------------------------------- the run


@dataclass
class Tally:
    """Counters shared by the load threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    good_sent: Counter[str] = field(default_factory=Counter)
    good_ok: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    handshakes: int = 0
    old_cert_requests: int = 0  # answered on a connection made before the latest swap was seen

    def add(self, counter: Counter[str], key: str) -> None:
        with self.lock:
            counter[key] += 1

    def problem(self, kind: str, detail: str) -> None:
        with self.lock:
            self.unexpected[kind] += 1
            if len(self.samples) < 25:
                self.samples.append(f"{kind}: {detail}")


# Good requests and faults, with relative weights: mostly good traffic, about 15 % faults.
MIX: dict[str, float] = {
    "validate-valid": 30, "validate-invalid": 20, "validate-update": 5, "validate-delete": 3,
    "mutate-default": 20, "mutate-keep": 7,
    "malformed-json": 5, "wrong-content-type": 2.5, "partial-then-close": 2, "partial-then-reset": 1,
    "sent-then-left": 1.5, "oversized-declared": 2.5, "oversized-chunked": 0.05,
}
GOOD_KINDS = [k for k in MIX if k.startswith(("validate", "mutate"))]
MALFORMED = [b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"x"',
             b"not json at all", b"[]", b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}',
             b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":7}}',
             b"\xff\xfe{}"]
WRONG_TYPES = ["text/plain", "application/x-yaml", None, "application/xml"]


class Load:
    """The load threads and what they share."""

    def __init__(self, port: int, context: ssl.SSLContext, seed: int) -> None:
        self.port, self.context, self.seed = port, context, seed
        self.tally = Tally()
        self.stop = threading.Event()
        self.serving_fingerprint = ""  # set by the swap probe once the server is seen serving a new certificate

    def connect(self) -> Conn:
        conn = Conn(self.port, self.context)
        with self.tally.lock:
            self.tally.handshakes += 1
        return conn

    def worker(self, index: int, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + index)
        kinds, weights = list(MIX), list(MIX.values())
        # Half the clients keep one connection for the whole run (it must survive both swaps); half reconnect now
        # and then, so new handshakes keep testing the current certificate.
        recycle_every = 0 if index % 2 == 0 else 200
        conn: Conn | None = None
        for seq in range(MAX_ITERATIONS):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            kind = rng.choices(kinds, weights)[0]
            conn = self.step(kind, rng, conn, f"soak-{index}-{seq}", recycle_every)
        if conn is not None:
            conn.close()

    def warm_up(self, index: int, rounds: int = 3) -> None:
        """Every kind of request and fault a few times, so the RSS baseline includes every code path's buffers."""
        rng = random.Random(self.seed * 1000 - index)
        conn: Conn | None = None
        for r in range(rounds):
            for kind in MIX:
                conn = self.step(kind, rng, conn, f"soak-warm-{index}-{r}", 0)
        if conn is not None:
            conn.close()

    def step(self, kind: str, rng: random.Random, conn: Conn | None, name: str, recycle_every: int) -> Conn | None:
        """One request of ``kind``; returns the kept-alive connection to use next (None: make a new one)."""
        try:
            if kind in GOOD_KINDS or kind == "malformed-json":
                if conn is None or (recycle_every and conn.requests >= recycle_every):
                    if conn is not None:
                        conn.close()
                    conn = self.connect()
                if not self.on_keep_alive(conn, kind, rng, name):
                    conn.close()
                    conn = None
            else:
                self.fault(kind, rng)
        except (OSError, http.client.HTTPException) as exc:
            self.tally.problem(f"{kind}: {type(exc).__name__}", str(exc))
            if conn is not None:
                conn.close()
                conn = None
        return conn

    def on_keep_alive(self, conn: Conn, kind: str, rng: random.Random, name: str) -> bool:
        """One request on the kept-alive connection; False if the connection must not be reused."""
        if kind == "malformed-json":
            body = rng.choice(MALFORMED)
            conn.send(request_bytes("/validate", self.port, body))
            reply = conn.reply()
            problem = status_check(400, keep_alive=True)(reply)
            if problem:
                self.tally.problem(kind, problem)
            else:
                self.tally.add(self.tally.expected, "400 malformed body")
            return not reply.will_close
        path, body, check = good_request(kind, rng, name)
        self.tally.add(self.tally.good_sent, kind)
        conn.send(request_bytes(path, self.port, body))
        reply = conn.reply()
        problem = check(reply)
        if problem:
            self.tally.problem(kind, problem)
        else:
            self.tally.add(self.tally.good_ok, kind)
            if self.serving_fingerprint and conn.fingerprint != self.serving_fingerprint:
                with self.tally.lock:
                    self.tally.old_cert_requests += 1
        if reply.will_close:
            self.tally.problem(kind, "server closed a kept-alive connection after a good request")
        return not reply.will_close

    def fault(self, kind: str, rng: random.Random) -> None:
        """A fault on a connection of its own: each one ends with the connection closed."""
        conn = self.connect()
        try:
            if kind in ("partial-then-close", "partial-then-reset", "sent-then-left"):
                _, body, _ = good_request("validate-valid", rng, "soak-gone")
                data = request_bytes("/validate", self.port, body)
                if kind == "sent-then-left":
                    conn.send(data)  # the whole request, then gone before the answer
                    outcome = "client left after sending"
                else:
                    headers_end = data.index(b"\r\n\r\n") + 4
                    in_headers = rng.random() < 0.3
                    cut = rng.randrange(1, headers_end) if in_headers else rng.randrange(headers_end, len(data))
                    conn.send(data[:cut])
                    outcome = f"client gone mid-{'headers' if in_headers else 'body'}"
                if kind == "partial-then-reset":
                    conn.reset()
                    outcome += " (RST)"
                self.tally.add(self.tally.expected, outcome)
                return
            if kind == "wrong-content-type":
                content_type = rng.choice(WRONG_TYPES)
                _, body, _ = good_request("validate-valid", rng, "soak-type")
                conn.send(request_bytes("/validate", self.port, body, content_type))
                check, outcome = status_check(415, keep_alive=False), "415 wrong content type"
            elif kind == "oversized-declared":
                # Headers promise 8 MiB; the server must refuse without waiting for (or reading) the rest.
                conn.send(head("/validate", self.port, OVERSIZE) + b" " * 65536)
                check, outcome = status_check(413, keep_alive=False), "413 declared too large"
            else:  # oversized-chunked: no Content-Length, so the server has to count what arrives
                conn.send(head("/mutate", self.port, None, chunked=True))
                chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
                with contextlib.suppress(ConnectionError):  # it may answer and close before we finish
                    for _ in range(MAX_BODY // 65536 + 2):
                        conn.send(chunk)
                check, outcome = status_check(413, keep_alive=False), "413 chunked too large"
            problem = check(conn.reply())
            if problem:
                self.tally.problem(kind, problem)
            else:
                self.tally.add(self.tally.expected, outcome)
        finally:
            conn.close()


# ---------------------------------------------------------------------------------------------- server process


def process_rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses; the fields after the last ")" are fixed.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def server_rss_mib(pid: int) -> float:
    """RSS of the server: the process plus its worker processes (``--workers`` > 1)."""
    return round(sum(process_rss_kib(p) for p in [pid, *children(pid)]) / 1024, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, context: ssl.SSLContext, proc: subprocess.Popen[bytes], log_file: Path,
               timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-3000:]
            raise SystemExit(f"server exited with {proc.returncode} before it was ready:\n{tail}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = Conn(port, context, timeout=5)
            try:
                conn.send(f"GET /readyz HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n".encode())
                if conn.reply().status == 200:
                    return
            finally:
                conn.close()
        time.sleep(0.1)
    raise SystemExit("server not ready in time:\n" + log_file.read_text(errors="replace")[-3000:])


def log_summary(log_file: Path) -> dict[str, Any]:
    """Server log lines by level, and the error ones (JSON log format)."""
    levels: Counter[str] = Counter()
    errors: list[str] = []
    tracebacks = 0
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            level, message = str(entry.get("level", "?")), str(entry.get("msg", ""))
        except ValueError:
            level, message = "raw", line
        levels[level] += 1
        tracebacks += "Traceback" in line
        if level in ("error", "critical") and len(errors) < 20:
            errors.append(message)
    return {"lines_by_level": dict(levels), "errors": errors, "tracebacks": tracebacks}


# ----------------------------------------------------------------------------------------- swaps and shutdown


def probe_swap(port: int, bundle: ssl.SSLContext, new: CertSet, timeout: float, workers: int) -> dict[str, Any]:
    """Open new connections until they all get ``new``'s certificate; then verify with ``new``'s CA alone.

    Each worker process reloads on its own poll, so one new certificate seen is not enough: it must be the only
    one served for ``10 * workers`` new connections in a row.
    """
    started = time.monotonic()
    want, streak, needed = new.fingerprint, 0, 10 * workers
    result: dict[str, Any] = {"observed": False, "pickup_s": None, "new_ca_only_handshake": False}
    for _ in range(int(timeout / 0.02) + needed):
        if time.monotonic() - started > timeout:
            break
        try:
            conn = Conn(port, bundle, timeout=5)
        except OSError as exc:
            result["probe_error"] = repr(exc)
            streak = 0
        else:
            conn.close()
            streak = streak + 1 if conn.fingerprint == want else 0
            if streak == 1:
                result["pickup_s"] = round(time.monotonic() - started, 2)
            if streak >= needed:
                result["observed"] = True
                break
        if not streak:
            time.sleep(0.02)
    if result["observed"]:
        try:
            Conn(port, new.context(), timeout=5).close()
            result["new_ca_only_handshake"] = True
        except (OSError, ssl.SSLError) as exc:
            result["new_ca_only_error"] = repr(exc)
    return result


@dataclass
class InFlight:
    """One request put in flight just before SIGTERM."""

    slow: bool
    sent_before_signal: bool = False
    answered_after_signal: bool = False
    problem: str | None = "no answer"


class ShutdownBatch:
    """Requests put in flight just before SIGTERM, each in its own thread and on its own connection.

    ``complete`` clients send a whole request (with a 256 KiB annotation, so the server is still busy reading and
    judging them when the signal lands) and the signal follows at once; ``slow`` clients have sent headers and half
    a body when the signal comes, and the rest a second later. Every one must get its correct answer.
    """

    def __init__(self, port: int, context: ssl.SSLContext, graceful: float, complete: int = 32,
                 slow: int = 8) -> None:
        self.port, self.context, self.graceful = port, context, graceful
        self.flights = [InFlight(slow=i >= complete) for i in range(complete + slow)]
        self.ready = threading.Barrier(complete + slow + 1, timeout=60)
        self.sent = threading.Barrier(complete + slow + 1, timeout=60)
        self.resume = threading.Event()
        self.signalled = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(len(self.flights))]

    def client(self, i: int) -> None:
        flight = self.flights[i]
        path, body, check = good_request("mutate-default" if i % 2 else "validate-valid", random.Random(i),
                                         f"soak-shutdown-{i}", padding=256 * 1024)
        data = request_bytes(path, self.port, body)
        conn: Conn | None = None
        try:
            conn = Conn(self.port, self.context, timeout=self.graceful + 15)
            if flight.slow:
                conn.send(data[: len(data) // 2])
            self.ready.wait()
            if not flight.slow:
                conn.send(data)
                flight.sent_before_signal = True
            self.sent.wait()
            if flight.slow:
                self.resume.wait(self.graceful)
                conn.send(data[len(data) // 2:])
            reply = conn.reply()
            flight.answered_after_signal = self.signalled.is_set()
            flight.problem = check(reply)
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
            flight.problem = f"{type(exc).__name__}: {exc}"
            self.ready.abort()
            self.sent.abort()
        finally:
            if conn is not None:
                conn.close()

    def run(self, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
        for t in self.threads:
            t.start()
        result: dict[str, Any] = {}
        try:
            self.ready.wait()
            self.sent.wait()
        except threading.BrokenBarrierError:
            result["setup_error"] = "a shutdown client could not connect or send"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.signalled.set()
        time.sleep(0.5)
        # Informational: with --workers > 1 the supervisor keeps the listening socket until it exits.
        try:
            socket.create_connection((HOST, self.port), timeout=2).close()
            result["new_connection_after_sigterm"] = "accepted"
        except OSError as exc:
            result["new_connection_after_sigterm"] = type(exc).__name__
        time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
        self.resume.set()
        try:
            code: int | None = proc.wait(self.graceful + 10)
        except subprocess.TimeoutExpired:
            code = None
            proc.kill()
            proc.wait(10)
        exit_s = round(time.monotonic() - t0, 2)
        for t in self.threads:
            t.join(15)
        flights = self.flights
        problems = [f"{'slow' if f.slow else 'sent'} #{i}: {f.problem}" for i, f in enumerate(flights) if f.problem]
        result.update(
            in_flight_fully_sent=sum(f.sent_before_signal for f in flights),
            in_flight_slow=sum(f.slow for f in flights),
            answered_correctly=sum(f.problem is None for f in flights),
            answered_after_sigterm=sum(f.answered_after_signal for f in flights if f.problem is None),
            problems=problems[:10],
            exit_code=code,
            exit_s=exit_s,
            graceful_timeout_s=self.graceful,
        )
        result["clean"] = not problems and "setup_error" not in result and code == 0 and exit_s <= self.graceful
        return result


# ---------------------------------------------------------------------------------------------------- reporting


def table(report: dict[str, Any]) -> str:
    good, rss, swaps, down = report["good"], report["rss"], report["cert_swaps"], report["shutdown"]
    rows: list[tuple[str, str]] = [
        ("duration", f"{report['load_s']} s load, {report['config']['connections']} connections, "
                     f"{report['config']['workers']} worker(s)"),
        ("good requests sent", str(good["sent"])),
        ("answered correctly", f"{good['answered_correctly']}  ({good['rate_per_s']}/s)"),
    ]
    rows += [(f"  {k}", f"{v} / {good['sent_by_kind'][k]}") for k, v in sorted(good["correct_by_kind"].items())]
    rows.append(("expected fault outcomes", str(sum(report["faults_expected"].values()))))
    rows += [(f"  {k}", str(v)) for k, v in sorted(report["faults_expected"].items())]
    rows.append(("unexpected errors", str(sum(report["unexpected"].values()))))
    rows += [(f"  {k}", str(v)) for k, v in sorted(report["unexpected"].items())]
    rows += [
        ("TLS handshakes", str(report["handshakes"])),
        ("RSS start / end / peak", f"{rss['start_mib']} / {rss['end_mib']} / {rss['peak_mib']} MiB"),
        ("RSS growth", f"{rss['growth_mib']:+} MiB (limit {rss['limit_mib']} MiB)"),
        ("cert swaps observed", f"{swaps['observed']} of {swaps['performed']} "
                                f"(picked up after {swaps['pickup_s']} s; new-CA-only handshake "
                                f"{swaps['new_ca_only_handshakes']}/{swaps['performed']})"),
        ("  requests on pre-swap conns", str(swaps["old_cert_requests_after_swap"])),
        ("shutdown", f"{'clean' if down['clean'] else 'NOT CLEAN'}: {down['answered_correctly']} of "
                     f"{down['in_flight_fully_sent'] + down['in_flight_slow']} in-flight answered "
                     f"({down['answered_after_sigterm']} after SIGTERM), exit {down['exit_code']} "
                     f"in {down['exit_s']} s (graceful {down['graceful_timeout_s']} s)"),
        ("server log", ", ".join(f"{k}={v}" for k, v in sorted(report["server_log"]["lines_by_level"].items()))
         or "empty"),
        ("result", "PASS" if report["ok"] else "FAIL: " + "; ".join(report["failures"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


# ---------------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent load clients (default 8)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    parser.add_argument("--graceful-timeout", type=int, default=25, help="server's --graceful-timeout (default 25)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the request mix")
    parser.add_argument("--out", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    if args.duration < 6 or args.connections < 1 or args.workers < 1:
        parser.error("need --duration >= 6, --connections >= 1, --workers >= 1")
    return args


@contextlib.contextmanager
def server(volume: SecretVolume, port: int, workers: int, graceful: int,
           log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webhook", "serve", "--port", str(port), "--tls-cert", str(volume.root / "tls.crt"),
             "--tls-key", str(volume.root / "tls.key"), "--workers", str(workers), "--log-level", "warning",
             "--log-format", "json", "--graceful-timeout", str(graceful)],
            stdout=log, stderr=subprocess.STDOUT, cwd=volume.root.parent,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@dataclass
class Observed:
    """What the conductor saw while the load ran."""

    load_s: float = 0.0
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_samples: list[float] = field(default_factory=list)
    swaps: list[dict[str, Any]] = field(default_factory=list)
    stuck_clients: int = 0


def conduct(args: argparse.Namespace, load: Load, proc: subprocess.Popen[bytes], volume: SecretVolume,
            next_certs: list[CertSet]) -> Observed:
    """Run the load for ``--duration``: sample RSS once a second and swap the certificate at 1/3 and 2/3."""
    seen = Observed()
    # Warm-up: every path once per client in parallel (up to four 7 MiB bodies at once), then the load itself
    # for a while; the RSS baseline is taken after that, under load.
    warmers = [threading.Thread(target=load.warm_up, args=(i,), daemon=True) for i in range(min(4, args.connections))]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join(120)
    started = time.monotonic()
    deadline = started + args.duration
    threads = [threading.Thread(target=load.worker, args=(i, deadline + 30), daemon=True)
               for i in range(args.connections)]
    for t in threads:
        t.start()
    warmup = max(2.0, min(30.0, args.duration * 0.1))
    swap_at = [started + args.duration / 3, started + 2 * args.duration / 3]
    for _ in range(int(args.duration) * 4 + 100):
        now = time.monotonic()
        if now >= deadline:
            break
        if not seen.rss_start and now - started >= warmup:
            seen.rss_start = server_rss_mib(proc.pid)
        if swap_at and now >= swap_at[0]:
            swap_at.pop(0)
            new = next_certs[len(seen.swaps)]
            volume.swap(new)
            seen.swaps.append(probe_swap(load.port, load.context, new, timeout=15, workers=args.workers))
            if seen.swaps[-1]["observed"]:
                load.serving_fingerprint = new.fingerprint
            continue
        seen.rss_samples.append(server_rss_mib(proc.pid))
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    seen.rss_end = server_rss_mib(proc.pid)  # still under load, like the start sample
    load.stop.set()
    for t in threads:
        t.join(IO_TIMEOUT * 2)
    seen.load_s = round(time.monotonic() - started, 1)
    seen.stuck_clients = sum(t.is_alive() for t in threads)
    return seen


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cert_sets = [make_cert_set(work / f"pki-{i}") for i in range(3)]
    volume = SecretVolume(work / "secret", cert_sets[0])
    # Clients trust all three CAs from the start, as a caBundle is extended before the serving cert is rotated.
    bundle = ssl.create_default_context(cadata="".join(c.ca_pem for c in cert_sets))
    port = free_port()
    log_file = work / "server.log"
    with server(volume, port, args.workers, args.graceful_timeout, log_file) as proc:
        wait_ready(port, bundle, proc, log_file)
        load = Load(port, bundle, args.seed)
        seen = conduct(args, load, proc, volume, cert_sets[1:])
        down = ShutdownBatch(port, bundle, args.graceful_timeout).run(proc)
    return verdict(args, load.tally, seen, down, log_summary(log_file))


def verdict(args: argparse.Namespace, tally: Tally, seen: Observed, down: dict[str, Any],
            logs: dict[str, Any]) -> dict[str, Any]:
    sent, correct = sum(tally.good_sent.values()), sum(tally.good_ok.values())
    growth = round(seen.rss_end - seen.rss_start, 1)
    limit = round(max(RSS_FLOOR_MIB, RSS_FRACTION * seen.rss_start), 1)
    swaps = seen.swaps
    failures: list[str] = []
    if sent != correct:
        failures.append(f"{sent - correct} good requests not answered correctly")
    if tally.unexpected:
        failures.append(f"{sum(tally.unexpected.values())} unexpected errors")
    if seen.stuck_clients:
        failures.append(f"{seen.stuck_clients} load clients stuck")
    if growth > limit:
        failures.append(f"RSS grew {growth} MiB (limit {limit})")
    if sum(s["observed"] and s["new_ca_only_handshake"] for s in swaps) != 2:
        failures.append("a certificate swap was not picked up")
    if not down["clean"]:
        failures.append("shutdown was not clean")
    if logs["tracebacks"]:
        failures.append(f"{logs['tracebacks']} tracebacks in the server log")
    return {
        "config": {"duration_s": args.duration, "connections": args.connections, "workers": args.workers,
                   "graceful_timeout_s": args.graceful_timeout, "seed": args.seed, "mix": MIX},
        "load_s": seen.load_s,
        "good": {"sent": sent, "answered_correctly": correct,
                 "rate_per_s": round(correct / max(seen.load_s, 1e-9)),
                 "sent_by_kind": dict(tally.good_sent), "correct_by_kind": dict(tally.good_ok)},
        "faults_expected": dict(tally.expected),
        "unexpected": dict(tally.unexpected),
        "unexpected_samples": tally.samples,
        "handshakes": tally.handshakes,
        "rss": {"start_mib": seen.rss_start, "end_mib": seen.rss_end,
                "peak_mib": max([seen.rss_start, seen.rss_end, *seen.rss_samples]),
                "growth_mib": growth, "limit_mib": limit, "samples_mib": seen.rss_samples},
        "cert_swaps": {"performed": len(swaps), "observed": sum(s["observed"] for s in swaps),
                       "pickup_s": [s["pickup_s"] for s in swaps],
                       "new_ca_only_handshakes": sum(s["new_ca_only_handshake"] for s in swaps),
                       "old_cert_requests_after_swap": tally.old_cert_requests, "probes": swaps},
        "shutdown": down,
        "server_log": logs,
        "failures": failures,
        "ok": not failures,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        report = run(args, Path(tmp))
    print(table(report))
    if report["unexpected_samples"]:
        print("\nfirst unexpected errors:\n  " + "\n  ".join(report["unexpected_samples"]))
    if report["shutdown"]["problems"]:
        print("\nshutdown problems:\n  " + "\n  ".join(report["shutdown"]["problems"]))
    if report["server_log"]["errors"]:
        print("\nserver log errors:\n  " + "\n  ".join(report["server_log"]["errors"]))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
