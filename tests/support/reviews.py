"""What the tests send: AdmissionReviews around ConnectionPools, the reviews captured from real kube-apiservers, and
JSON Patch applied as the apiserver applies it."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import jsonpatch

from tests.support import DATA

# Captured from real kube-apiservers, kept in the repository (see its README): a fresh clone needs nothing else.
REFERENCE = DATA / "reference"

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


def update(old: Any, new: Any) -> dict[str, Any]:
    """An UPDATE review of ``old`` into ``new``."""
    body = review(new, operation="UPDATE")
    body["request"]["oldObject"] = old
    return body


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
