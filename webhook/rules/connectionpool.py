"""The ConnectionPool (aiven.io/v1alpha1) rules: the one place they are written.

``SCHEMA`` declares every field, as aiven-operator v0.8.0's CRD (the API reference the rules come from) does; what
later releases changed is :mod:`webhook.rules.releases`, beside it. Validation, the exported OpenAPI schema, the CEL
policy and the docs' tables are all derived from these declarations: add a rule here and every entry point picks it
up. Defaulting lives here too, as a pure function from an object to the JSON Patch operations it needs; the verdict
of a cluster's rules is :mod:`webhook.rules.ruleset`, what an UPDATE may change :mod:`webhook.rules.updates`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.rules.schema import Integer, Object, String

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
