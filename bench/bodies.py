"""The AdmissionReviews the benchmark posts: built from a request captured on a real kube-apiserver.

`mutate-create.json` is a `kubectl apply` CREATE (about 2 KB, with managedFields and the last-applied annotation),
which is what production traffic looks like. Each body gets its own uid so an answer can be traced back to the body
it was for: the load generator checks answers by uid while the load runs.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Captured from a real kube-apiserver; kept in the repository with the tests.
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference"

# The apiserver's headers (Go's client), and the path with its query, as captured.
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, */*",
    "Accept-Encoding": "gzip",
    "User-Agent": "kube-apiserver-admission",
}


@dataclass(frozen=True)
class Body:
    name: str  # case name: validate-valid, validate-invalid, mutate
    path: str  # request path, with the query the apiserver adds
    uid: str
    data: bytes
    expect: str  # "allowed", "warned", "denied" or "patched"
    causes: int = 0  # field errors a denial must list


def _capture(reference_dir: Path) -> dict[str, Any]:
    review: dict[str, Any] = json.loads((reference_dir / "mutate-create.json").read_text())["body"]
    return review


def _review(review: dict[str, Any], uid: str, edit: Any = None) -> bytes:
    review = copy.deepcopy(review)
    review["request"]["uid"] = uid
    if edit is not None:
        edit(review["request"]["object"])
    # Compact, like Go's encoding/json: the byte count then matches the capture's Content-Length.
    return json.dumps(review, separators=(",", ":")).encode()


def _mutated(obj: dict[str, Any]) -> None:
    # The validating webhook runs after mutation, so a valid object arrives with the defaulted field set.
    obj["spec"]["connInfoSecretTarget"] = {"name": obj["metadata"]["name"]}


def _broken(obj: dict[str, Any]) -> None:
    spec = obj["spec"]
    spec["project"] = "p" * 70  # Too long: max 63
    spec["poolMode"] = "bogus"  # Unsupported value
    spec["poolSize"] = "25"  # Invalid type: must be an integer
    del spec["username"]  # Required value


def _update(reference_dir: Path, uid: str, project: str) -> bytes:
    """A captured `kubectl label` UPDATE (object and oldObject, about 5 KB) with ``project`` on both sides."""
    review: dict[str, Any] = json.loads((reference_dir / "validate-update-metadata-only.json").read_text())["body"]
    review["request"]["uid"] = uid
    for side in ("object", "oldObject"):
        review["request"][side]["spec"]["project"] = project
    return json.dumps(review, separators=(",", ":")).encode()


def build_updates(reference_dir: Path = REFERENCE) -> list[Body]:
    """UPDATEs: of a valid object (the oldObject is never read), and of a legacy object whose unchanged bad field is
    ratcheted (the oldObject is read, and the answer carries a warning)."""
    valid, legacy = "b0000000-0000-4000-8000-000000000004", "b0000000-0000-4000-8000-000000000005"
    return [
        Body("validate-update", "/validate?timeout=10s", valid, _update(reference_dir, valid, "my-project"),
             "allowed"),
        Body("validate-update-ratcheted", "/validate?timeout=10s", legacy, _update(reference_dir, legacy, "p" * 70),
             "warned"),
    ]


def build(reference_dir: Path = REFERENCE) -> list[Body]:
    captured = _capture(reference_dir)
    return [
        Body("validate-valid", "/validate?timeout=10s", "b0000000-0000-4000-8000-000000000001",
             _review(captured, "b0000000-0000-4000-8000-000000000001", _mutated), "allowed"),
        Body("validate-invalid", "/validate?timeout=10s", "b0000000-0000-4000-8000-000000000002",
             _review(captured, "b0000000-0000-4000-8000-000000000002", _broken), "denied", causes=4),
        Body("mutate", "/mutate?timeout=10s", "b0000000-0000-4000-8000-000000000003",
             _review(captured, "b0000000-0000-4000-8000-000000000003"), "patched"),
    ]


def check(body: Body, status: int, answer: bytes) -> str | None:
    """Why ``answer`` is not the right answer to ``body``, or None if it is."""
    if status != 200:
        return f"HTTP {status}: {answer[:200]!r}"
    try:
        response = json.loads(answer)["response"]
    except (ValueError, KeyError, TypeError):
        return f"not an AdmissionReview answer: {answer[:200]!r}"
    if response.get("uid") != body.uid:
        return f"uid {response.get('uid')!r}, want {body.uid!r}"
    if body.expect == "denied":
        status_ = response.get("status") or {}
        causes = (status_.get("details") or {}).get("causes") or []
        if response.get("allowed") is not False or status_.get("code") != 422 or len(causes) != body.causes:
            return f"want a 422 denial with {body.causes} causes, got {response}"
        return None
    if response.get("allowed") is not True:
        return f"want allowed, got {response}"
    if body.expect == "warned":
        warned = response.get("warnings") and "patch" not in response and "status" not in response
        return None if warned else f"want allowed with warnings, got {response}"
    if body.expect == "allowed":
        return f"want no patch, got {response}" if "patch" in response else None
    ops = json.loads(base64.b64decode(response.get("patch", "")) or b"[]")
    want = {"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "my-pool"}}
    if response.get("patchType") != "JSONPatch" or ops != [want]:
        return f"want patch {[want]}, got {response}"
    return None
