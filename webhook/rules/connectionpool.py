"""The ConnectionPool (aiven.io/v1alpha1) rules: the one place they are written.

``SCHEMA`` declares every field; validation, the exported OpenAPI schema and the docs' rule table are all derived
from it. Add a rule here and every entry point picks it up. Defaulting lives here too, as a pure function from an
object to the JSON Patch operations it needs; what an UPDATE may change is :mod:`webhook.rules.updates`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.rules import validator, wording
from webhook.rules.fielderrors import FieldError
from webhook.rules.openapi import openapi
from webhook.rules.schema import Integer, Object, String
from webhook.rules.wording import Wording

GROUP = "aiven.io"
VERSION = "v1alpha1"
KIND = "ConnectionPool"
RESOURCE = "connectionpools"
API_VERSION = f"{GROUP}/{VERSION}"

POOL_MODES = ("session", "transaction", "statement")

SCHEMA = Object(
    description="ConnectionPool is the Schema for the connectionpools API.",
    properties={
        "apiVersion": String(required=True, enum=(API_VERSION,)),
        "kind": String(required=True, enum=(KIND,)),
        "metadata": Object(
            required=True,
            properties={
                "name": String(
                    required=True,
                    required_detail="name or generateName is required",
                    blank_is_missing=True,
                ),
                "namespace": String(),
                "deletionTimestamp": String(
                    description="Set by the apiserver when deletion starts: an object being deleted is never denied "
                    "nor patched."
                ),
            },
        ),
        "spec": Object(
            required=True,
            description="ConnectionPoolSpec defines the desired state of ConnectionPool.",
            properties={
                "databaseName": String(
                    required=True, max_length=40, description="Name of the database the pool connects to."
                ),
                "project": String(required=True, max_length=63, description="Target project."),
                "serviceName": String(required=True, max_length=63, description="Service name."),
                "username": String(
                    required=True,
                    max_length=64,
                    description="Name of the service user used to connect to the database.",
                ),
                "poolMode": String(
                    enum=POOL_MODES, description="Mode the pool operates in (session, transaction, statement)."
                ),
                "poolSize": Integer(
                    description="Number of connections the pool may create towards the backend server."
                ),
                "authSecretRef": Object(
                    description="Authentication reference to Aiven token in a secret.",
                    properties={"key": String(min_length=1), "name": String(min_length=1)},
                ),
                "connInfoSecretTarget": Object(
                    description="Information regarding secret creation.",
                    properties={
                        "name": String(
                            required=True,
                            description="Name of the secret resource to be created. "
                            "By default, is equal to the resource name.",
                        )
                    },
                ),
            },
        ),
    },
)


_VALIDATORS = {row: validator.compile(SCHEMA, row) for row in wording.ROWS}


def validate(obj: Any, words: Wording = wording.LATEST) -> list[FieldError]:
    """Every rule violation in ``obj`` at once, in declaration order, worded as ``words`` says; empty when valid."""
    errors: list[FieldError] = []
    _VALIDATORS[words](obj, errors)
    return errors


def object_name(obj: Any) -> str:
    """``metadata.name`` when it is a non-empty string, else ``""`` (not yet generated, or malformed)."""
    if type(obj) is dict:
        metadata = obj.get("metadata")
        if type(metadata) is dict:
            name = metadata.get("name")
            if type(name) is str:
                return name
    return ""


class Defaults(NamedTuple):
    """What defaulting wants to change: JSON Patch ``add`` operations, and warnings for the user."""

    patch: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()


NOTHING = Defaults()


NAME_NOT_YET_SET = (
    "metadata.name is not set yet (generateName), so spec.connInfoSecretTarget.name was not defaulted"
)


def default(obj: Any) -> Defaults:
    """Default ``spec.connInfoSecretTarget.name`` to ``metadata.name``.

    Only absent paths are added, as deep as needed: ``add`` on an existing path replaces it, and anything we did not
    mean to touch must survive untouched. Objects too malformed to default are left for validation to judge.
    """
    spec = obj.get("spec") if type(obj) is dict else None
    if type(spec) is not dict:
        return NOTHING
    target = spec.get("connInfoSecretTarget")
    if target is not None and (type(target) is not dict or target.get("name") is not None):
        return NOTHING
    name = object_name(obj)
    if not name:
        return Defaults(warnings=(NAME_NOT_YET_SET,))
    if target is None:
        return Defaults(patch=({"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": name}},))
    return Defaults(patch=({"op": "add", "path": "/spec/connInfoSecretTarget/name", "value": name},))


def apply(obj: Any, patch: tuple[dict[str, Any], ...]) -> Any:
    """``obj`` with defaulting's ``add`` operations applied, as the apiserver applies them; ``obj`` is not changed."""
    if not patch:
        return obj
    result = dict(obj)
    spec = result["spec"] = dict(result["spec"])
    for op in patch:
        *parents, name = op["path"].split("/")[2:]  # every path is under /spec
        target = spec
        for parent in parents:
            target[parent] = dict(target[parent])
            target = target[parent]
        target[name] = op["value"]
    return result


class Admission(NamedTuple):
    """What admission would make of a new object: defaulting's patch and warnings, then the rules' errors."""

    patch: tuple[dict[str, Any], ...]
    errors: list[FieldError]
    warnings: tuple[str, ...]


def admit(obj: Any, words: Wording = wording.LATEST) -> Admission:
    """Defaulting, then the rules on the defaulted object: the verdict a ``kubectl apply`` of ``obj`` would get.

    ``check`` and ``audit`` use it; the webhook reaches the same verdict in two calls, mutate then validate.
    """
    defaults = default(obj)
    return Admission(defaults.patch, validate(apply(obj, defaults.patch), words), defaults.warnings)


def openapi_schema() -> dict[str, Any]:
    """The rules as a CRD ``openAPIV3Schema``, for exporting and for documentation."""
    return openapi(SCHEMA)
