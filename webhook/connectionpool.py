"""The ConnectionPool (aiven.io/v1alpha1) rules: the one place they are written.

``SCHEMA`` declares every field; validation, the exported OpenAPI schema and the README's rule table are all
derived from it. Add a rule here and every entry point picks it up. Defaulting lives here too, as a pure function
from an object to the JSON Patch operations it needs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.fielderrors import FieldError
from webhook.schema import Integer, Object, String

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


_check = SCHEMA.compile()


def validate(obj: Any) -> list[FieldError]:
    """Every rule violation in ``obj`` at once, in declaration order; empty when the object is valid."""
    errors: list[FieldError] = []
    _check(obj, errors)
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


def openapi_schema() -> dict[str, Any]:
    """The rules as a CRD ``openAPIV3Schema``, for exporting and for documentation."""
    return SCHEMA.openapi()
