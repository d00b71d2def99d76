"""The AdmissionReview protocol (admission.k8s.io v1 and v1beta1), independent of any resource.

Decode the body once, check the envelope, hand a small :class:`Request` to a handler, and encode its
:class:`Response` in the version that was sent. Handlers build answers with :func:`allowed`, :func:`patched` and
:func:`invalid`; validation errors become an API ``Status`` in :func:`invalid` and nowhere else.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict

import msgspec
import orjson

from webhook.rules import validator
from webhook.rules.fielderrors import FieldError
from webhook.rules.openapi import openapi
from webhook.rules.schema import Boolean, Integer, Map, Object, String, Walker

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")


class BadReview(ValueError):
    """The body is not a usable AdmissionReview; the message says what is wrong, in one line."""


@dataclass(slots=True)
class Request:
    """The parts of ``AdmissionReview.request`` that handlers, logs and metrics read."""

    api_version: str
    uid: str
    operation: str
    object: dict[str, Any] | None
    name: str = ""
    namespace: str = ""
    dry_run: bool = False
    username: str = ""
    # request.oldObject, read only when a handler calls this (an UPDATE of a valid object never needs it).
    old_object: Callable[[], Any] = field(default=lambda: None, compare=False, repr=False)


class Response(NamedTuple):
    """A handler's answer; immutable, so that the plain "allowed" can be one shared value."""

    allowed: bool
    status: dict[str, Any] | None = None
    patch: Sequence[dict[str, Any]] = ()
    warnings: Sequence[str] = ()
    errors: int = 0


ALLOWED = Response(allowed=True)


# A handler answers at once, or later (an awaitable) when it has to ask the cluster first.
Handler = Callable[[Request], Response | Awaitable[Response]]


_parse_any = msgspec.json.Decoder().decode


def parse_json(body: bytes) -> Any:
    """The whole body as strict JSON (RFC 8259), else :class:`BadReview`.

    Integer literals stay ints (``1.0`` stays a float, as in Go; an int beyond int64 is reported as a "number", as
    the apiserver's decoder reads it). NaN/Infinity, invalid UTF-8, lone surrogates (Go's encoder never writes
    them), integers of more than 4300 digits and nesting deeper than the interpreter's recursion limit are refused.
    """
    try:
        return _parse_any(body)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        raise BadReview(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadReview("body is not valid JSON: nested too deeply") from None


# Operations whose request always carries the object (the apiserver sends one for both).
WRITES = ("CREATE", "UPDATE")

# What an AdmissionReview must look like for us to answer it: only the fields we read, checked like the rules.
# The OpenAPI document's request body is derived from it (see openapi_schema()).
ENVELOPE = Object(
    properties={
        "apiVersion": String(required=True, enum=API_VERSIONS),
        "kind": String(required=True, enum=("AdmissionReview",)),
        "request": Object(
            required=True,
            properties={
                "uid": String(required=True, blank_is_missing=True, description="Echoed in the response."),
                "operation": String(
                    required=True,
                    blank_is_missing=True,
                    description="CREATE and UPDATE are judged; any other operation (DELETE, CONNECT) is allowed.",
                ),
                "object": Object(description="The object under review; required for CREATE and UPDATE."),
                "name": String(),
                "namespace": String(),
                "dryRun": Boolean(),
                "userInfo": Object(properties={"username": String(description="Logged with the decision.")}),
            },
        ),
    }
)
_validate_envelope = validator.compile(ENVELOPE)


def projection(schema: Object) -> Any:
    """The type msgspec parses a review as: only the declared properties of declared objects (or null), any value
    at a leaf, judged by the checks afterwards. Anything else there does not parse (see :class:`Reader`)."""
    return _Projection().node(schema, None)


class _Projection(Walker[None, Any]):
    def string(self, node: String, at: None) -> Any:
        return Any

    def integer(self, node: Integer, at: None) -> Any:
        return Any

    def boolean(self, node: Boolean, at: None) -> Any:
        return Any

    def map(self, node: Map, at: None) -> Any:
        return Any

    def object(self, node: Object, at: None) -> Any:
        if not node.properties:
            return Any
        fields = {name: self.node(child, None) for name, child in node.properties.items()}
        return TypedDict("Projection", fields, total=False) | None  # type: ignore[operator]


class Reader:
    """Reads the AdmissionReviews of one kind of object into a :class:`Request`.

    The body is parsed once, typed by ENVELOPE with the object's schema in place of ``request.object``: only the
    fields that the envelope check, the rules and the log read are built, and the rest (managedFields, annotations,
    a whole oldObject) is skipped, which costs half of a full parse for a kubectl CREATE and less again for an
    UPDATE. A body that does not fit that shape (bad JSON, or a wrong type where an object is declared) is parsed
    again in full (:func:`parse_json`), so that the envelope check can say what is wrong. Both parses are msgspec's
    and every value read goes through the same checks, so the two agree; the one difference is inherent to
    skipping: a number too large to read, in a field nobody reads, is skipped rather than refused (as Go's decoder
    skips the fields it does not know).
    """

    def __init__(self, object_schema: Object) -> None:
        shape = ENVELOPE.replace_at(("request", "object"), object_schema)
        self._project = msgspec.json.Decoder(projection(shape)).decode
        old = Object(properties={"request": Object(properties={"oldObject": object_schema})})
        self._project_old = msgspec.json.Decoder(projection(old)).decode

    def parse(self, body: bytes) -> Any:
        try:
            if not body.isascii():
                body.decode()  # strict UTF-8 everywhere: msgspec checks only the strings it builds
            return self._project(body)
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
            return parse_json(body)

    def decode(self, body: bytes) -> Request:
        """Parse and check an AdmissionReview; raise :class:`BadReview` if it cannot be answered."""
        request = request_of(self.parse(body))
        request.old_object = lambda: self._old_object(body)
        return request

    def _old_object(self, body: bytes) -> Any:
        """``request.oldObject`` of a review that :meth:`decode` accepted (None if absent), parsed on its own."""
        try:
            review = self._project_old(body)
        except (msgspec.MsgspecError, RecursionError):
            review = parse_json(body)  # a shape the projection does not fit; it was valid JSON for decode()
        return review["request"].get("oldObject")  # decode() found both to be objects


def request_of(review: Any) -> Request:
    """The :class:`Request` in a parsed AdmissionReview, after the envelope check."""
    if type(review) is not dict:
        raise BadReview("body must be a JSON object (an AdmissionReview)")
    errors: list[FieldError] = []
    _validate_envelope(review, errors)
    if errors:
        raise BadReview(", ".join(map(str, errors)))
    request = review["request"]
    operation = request["operation"]
    obj = request.get("object")
    if obj is None and operation in WRITES:
        raise BadReview(f"request.object: Required value for {operation}")
    user = request.get("userInfo")
    parsed = Request(
        api_version=review["apiVersion"],
        uid=request["uid"],
        operation=operation,
        object=obj,
        name=request.get("name") or "",
        namespace=request.get("namespace") or "",
        dry_run=request.get("dryRun") is True,
        username=(user.get("username") if user else None) or "",
    )
    return parsed


def openapi_schema() -> dict[str, Any]:
    """The request body as OpenAPI documents it: ENVELOPE, plus the object that writes must carry."""
    schema = _null_is_absent(openapi(ENVELOPE))
    schema["properties"]["request"].update({
        "if": {"properties": {"operation": {"enum": list(WRITES)}}, "required": ["operation"]},
        "then": {"required": ["object"], "properties": {"object": {"type": "object"}}},
    })
    return schema


def _null_is_absent(schema: dict[str, Any]) -> dict[str, Any]:
    """The server reads a null field as an absent one (a DELETE's ``object`` is null): optional fields may be null."""
    required = set(schema.get("required", ()))
    for name, child in schema.get("properties", {}).items():
        _null_is_absent(child)
        if name not in required:
            child["type"] = [child["type"], "null"]
    return schema


def encode(request: Request, response: Response) -> bytes:
    """The AdmissionReview answer, in the apiVersion the request came in."""
    answer: dict[str, Any] = {"uid": request.uid, "allowed": response.allowed}
    if response.status is not None:
        answer["status"] = response.status
    if response.patch:
        answer["patchType"] = "JSONPatch"
        answer["patch"] = base64.b64encode(_dumps(response.patch)).decode("ascii")
    if response.warnings:
        answer["warnings"] = response.warnings
    return _dumps({"apiVersion": request.api_version, "kind": "AdmissionReview", "response": answer})


def allowed(warnings: Sequence[str] = ()) -> Response:
    return Response(allowed=True, warnings=warnings)


def patched(patch: Sequence[dict[str, Any]], warnings: Sequence[str] = ()) -> Response:
    return Response(allowed=True, patch=patch, warnings=warnings)


def invalid(group: str, kind: str, name: str, errors: Sequence[FieldError]) -> Response:
    """Deny with the Status the apiserver itself returns for invalid objects, so kubectl prints it natively."""
    summary = ", ".join([e.text for e in errors])
    if len(errors) > 1:
        summary = f"[{summary}]"
    status = {
        "metadata": {},
        "status": "Failure",
        "message": f'{kind}.{group} "{name}" is invalid: {summary}',
        "reason": "Invalid",
        "details": {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [e.cause for e in errors],
        },
        "code": 422,
    }
    return Response(allowed=False, status=status, errors=len(errors))


def errored(message: str) -> Response:
    """A handler failed: deny with code 500 inside a well-formed answer, never an HTTP 500 or a traceback."""
    status = {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}
    return Response(allowed=False, status=status)


def failure_status(code: int, reason: str, message: str) -> bytes:
    """A ``meta/v1`` Status body for HTTP-level errors (400, 413, 415...)."""
    return _dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    )


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value)
