"""Pydantic models of the AdmissionReview, for the OpenAPI document (``/docs``, schemathesis).

They describe what the endpoints accept and return; the hot path does not build them (see ``webhook.admission``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserInfo(_Open):
    username: str | None = Field(None, description="Logged with the decision; nothing else here is read.")


# What the server checks (webhook.admission.decode), no more: fields it never reads are left open.
_OBJECT_FOR_WRITES: dict[str, JsonValue] = {
    "if": {"properties": {"operation": {"enum": ["CREATE", "UPDATE"]}}, "required": ["operation"]},
    "then": {"required": ["object"], "properties": {"object": {"type": "object"}}},
}


class AdmissionRequest(_Open):
    model_config = ConfigDict(extra="allow", json_schema_extra=_OBJECT_FOR_WRITES)

    uid: str = Field(min_length=1, description="Echoed in the response.")
    kind: Any = Field(None, description="Not read: the object's own apiVersion and kind are what is judged.")
    operation: str = Field(
        min_length=1,
        description="CREATE and UPDATE are judged; any other operation (DELETE, CONNECT) is allowed.",
        examples=["CREATE", "UPDATE", "DELETE", "CONNECT"],
    )
    name: str | None = None
    namespace: str | None = None
    userInfo: UserInfo | None = None  # noqa: N815 - Kubernetes field name
    object: dict[str, Any] | None = Field(None, description="The ConnectionPool; required for CREATE and UPDATE.")
    oldObject: Any = Field(None, description="Not read.")  # noqa: N815
    dryRun: bool | None = None  # noqa: N815


class AdmissionReviewRequest(_Open):
    apiVersion: Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]  # noqa: N815
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


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
