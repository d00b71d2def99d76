"""`helm test`: call the installed webhook the way the apiserver does, over TLS verified for the Service's name.

Standard library only: it runs in the webhook's own image. Settings come from SMOKE_* environment variables.
"""

import base64
import http.client
import json
import os
import socket
import ssl
import sys

HOST = os.environ["SMOKE_HOST"]
PORT = int(os.environ.get("SMOKE_PORT", "443"))
# Where to connect, if not HOST itself; the certificate is always checked against HOST.
CONNECT = os.environ.get("SMOKE_CONNECT", HOST)


def tls_context():
    pem = os.environ.get("SMOKE_CA_PEM")
    if pem:
        return ssl.create_default_context(cadata=pem)
    return ssl.create_default_context(cafile=os.environ["SMOKE_CA_FILE"])


def request(method, path, body=None):
    conn = http.client.HTTPConnection(CONNECT, PORT, timeout=10)
    raw = socket.create_connection((CONNECT, PORT), timeout=10)
    conn.sock = tls_context().wrap_socket(raw, server_hostname=HOST)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def review(spec, uid):
    pool = {
        "apiVersion": "aiven.io/v1alpha1",
        "kind": "ConnectionPool",
        "metadata": {"name": "helm-test", "namespace": "default"},
        "spec": spec,
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"},
            "resource": {"group": "aiven.io", "version": "v1alpha1", "resource": "connectionpools"},
            "name": "helm-test",
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "helm-test"},
            "object": pool,
            "oldObject": None,
            "dryRun": True,
        },
    }


def check(what, ok, detail):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else ": " + detail), flush=True)
    return ok


def main():
    results = []
    status, body = request("GET", "/readyz")
    results.append(check("GET /readyz is 200", status == 200, f"{status} {body[:200]!r}"))

    good = {"databaseName": "defaultdb", "project": "p", "serviceName": "pg", "username": "avnadmin"}
    status, body = request("POST", "/validate?timeout=5s", review({**good, "poolMode": "bogus"}, "uid-validate"))
    response = json.loads(body).get("response", {}) if status == 200 else {}
    results.append(check(
        "POST /validate denies a bad poolMode",
        response.get("uid") == "uid-validate" and response.get("allowed") is False
        and "spec.poolMode" in json.dumps(response.get("status", {})),
        f"{status} {body[:300]!r}",
    ))

    status, body = request("POST", "/mutate?timeout=5s", review(good, "uid-mutate"))
    response = json.loads(body).get("response", {}) if status == 200 else {}
    patch = json.loads(base64.b64decode(response["patch"])) if response.get("patch") else []
    results.append(check(
        "POST /mutate defaults spec.connInfoSecretTarget",
        response.get("allowed") is True
        and any(op.get("path", "").startswith("/spec/connInfoSecretTarget") for op in patch),
        f"{status} {body[:300]!r}",
    ))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
