"""Pydantic models of what the webhook answers, for the OpenAPI document (``/docs``, schemathesis).

The hot path does not build them (see ``webhook.serve.admission``). What the endpoints accept is documented from
``webhook.serve.admission.ENVELOPE``, the declaration the server checks requests against.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class StatusCause(BaseModel):
    reason: str
    message: str
    field: str


class StatusDetails(BaseModel):
    name: str
    group: str
    kind: str
    causes: list[StatusCause]


class Status(BaseModel):
    """``meta/v1`` Status: why a request was denied (in a response) or refused (HTTP 4xx)."""

    kind: Literal["Status"] | None = None
    apiVersion: Literal["v1"] | None = None  # noqa: N815
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: Literal["Failure"]
    message: str
    reason: str
    details: StatusDetails | None = None
    code: int


class AdmissionResponse(BaseModel):
    uid: str
    allowed: bool
    status: Status | None = None
    patchType: Literal["JSONPatch"] | None = None  # noqa: N815
    patch: str | None = Field(None, description="Base64 of a JSON Patch (RFC 6902) array.")
    warnings: list[str] | None = None


class AdmissionReviewResponse(BaseModel):
    apiVersion: Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]  # noqa: N815
    kind: Literal["AdmissionReview"]
    response: AdmissionResponse
