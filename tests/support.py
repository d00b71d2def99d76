"""Test support: run the real server process on loopback and talk to it over verified TLS."""

from __future__ import annotations

import base64
import copy
import http.client
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonpatch

ROOT = Path(__file__).resolve().parent.parent
# Captured from real kube-apiservers, kept in the repository (see its README): a fresh clone needs nothing else.
REFERENCE = ROOT / "tests" / "data" / "reference"
SERVICE_NAME = "connectionpool-webhook.webhooks.svc"
# `make mutation` sets this: the tests that take `client` then talk to the same server run in this process
# (tests/live.py), and `check`'s command line runs in it too, where mutation testing can see which code they reach.
# `make test` uses child processes.
IN_PROCESS = os.environ.get("WEBHOOK_TESTS_IN_PROCESS") == "1"

# The captured AdmissionReviews the replay tests send, listed rather than globbed: a missing file fails its test
# instead of shrinking the parameter set to nothing.
REFERENCE_REQUESTS = (
    "mutate-create-generatename.json",
    "mutate-create.json",
    "validate-create-generatename.json",
    "validate-delete.json",
    "validate-update-finalizer-removal.json",
    "validate-update-metadata-only.json",
    "validate-update.json",
)


def reference(name: str) -> dict[str, Any]:
    """A request captured from a real kube-apiserver: {"http": {...}, "body": AdmissionReview}."""
    path = REFERENCE / name
    if not path.is_file():
        raise FileNotFoundError(f"test data missing: {path} (the captured reviews live in the repository)")
    return json.loads(path.read_text())


def reference_requests() -> list[str]:
    return list(REFERENCE_REQUESTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args], capture_output=True, text=True, check=False, **kwargs
    )


def command(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``connectionpool-webhook ARGS`` as a user runs it; under `make mutation`, in this process."""
    if IN_PROCESS:
        return cli_in_process(*args, input=input, cwd=cwd)
    return cli(*args, input=input, cwd=cwd)


def cli_in_process(*args: str, input: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``cli`` run by this interpreter, for `make mutation`: a mutant is only seen by tests that reach it in the
    test process. Standard streams, the working directory and the exit status are what the child would have had."""
    from webhook import cli as command  # noqa: PLC0415

    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    saved = sys.stdin, sys.stdout, sys.stderr, Path.cwd()
    code: Any = 0
    try:
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        if cwd is not None:
            os.chdir(cwd)
        command.main(list(args))
    except SystemExit as exc:
        code = exc.code
    except Exception:  # what the interpreter would do: a traceback on stderr, status 1
        traceback.print_exc(file=stderr)
        code = 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
    if code is None:
        code = 0
    elif not isinstance(code, int):  # SystemExit("message"): printed, status 1
        stderr.write(f"{code}\n")
        code = 1
    return subprocess.CompletedProcess(["connectionpool-webhook", *args], code, stdout.getvalue(), stderr.getvalue())


def make_certs(out_dir: Path, *names: str) -> Path:
    """Certificates from our own `certs` command, as a user would make them."""
    args = ["certs", "--out-dir", str(out_dir), "--ip", "127.0.0.1"]
    for name in names or (SERVICE_NAME, "localhost"):
        args += ["--dns-name", name]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return out_dir


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


class ServerProcess:
    """`connectionpool-webhook serve` as a real child process."""

    def __init__(self, cert_dir: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None,
                 log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.cert_dir = cert_dir
        self.log_file = log_file or cert_dir / f"server-{self.port}.log"
        args = [sys.executable, "-m", "webhook", "serve", "--port", str(self.port),
                "--tls-cert", str(cert_dir / "tls.crt"), "--tls-key", str(cert_dir / "tls.key"), *extra]
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cert_dir,
                                     env={**os.environ, **(env or {})})

    def client(self, **kwargs: Any) -> Client:
        return Client(self.port, self.cert_dir / "ca.crt", **kwargs)

    def wait_ready(self, timeout: float = 20.0, **client_kwargs: Any) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                client = self.client(**client_kwargs)
                if client.request("GET", "/readyz").status == 200:
                    client.close()
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready:\n{self.logs()}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def apply_patch(obj: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """Apply a response's base64 JSON Patch with the jsonpatch library, as the apiserver would."""
    if "patch" not in response:
        return copy.deepcopy(obj)
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    return jsonpatch.JsonPatch(ops).apply(obj)


def review(obj: Any, operation: str = "CREATE", api_version: str = "admission.k8s.io/v1",
           uid: str = "11111111-2222-3333-4444-555555555555") -> dict[str, Any]:
    """An AdmissionReview around ``obj`` in the shape the apiserver sends."""
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"},
        "resource": {"group": "aiven.io", "version": "v1alpha1", "resource": "connectionpools"},
        "namespace": "default",
        "operation": operation,
        "userInfo": {"username": "admin"},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
    }
    name = obj.get("metadata", {}).get("name") if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) \
        else None
    if isinstance(name, str):  # the apiserver only ever sends a string here
        request["name"] = name
    return {"kind": "AdmissionReview", "apiVersion": api_version, "request": request}


def pool(**spec: Any) -> dict[str, Any]:
    """A valid ConnectionPool; keyword arguments override spec fields (None removes one)."""
    base: dict[str, Any] = {"databaseName": "defaultdb", "project": "my-project", "serviceName": "my-pg",
                            "username": "avnadmin"}
    base.update(spec)
    return {
        "apiVersion": "aiven.io/v1alpha1",
        "kind": "ConnectionPool",
        "metadata": {"name": "my-pool", "namespace": "default"},
        "spec": {k: v for k, v in base.items() if v is not None},
    }
