"""The ConnectionPool (aiven.io/v1alpha1) rules: the one place they are written.

``SCHEMA`` declares every field; validation, the exported OpenAPI schema and the README's rule table are all
derived from it. Add a rule here and every entry point picks it up. Defaulting lives here too, as a pure function
from an object to the JSON Patch operations it needs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook import wording
from webhook.fielderrors import FieldError
from webhook.schema import Integer, Object, String
from webhook.wording import Wording

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


_CHECKS = {row: SCHEMA.compile(row) for row in wording.ROWS}


def validate(obj: Any, words: Wording = wording.LATEST) -> list[FieldError]:
    """Every rule violation in ``obj`` at once, in declaration order, worded as ``words`` says; empty when valid."""
    errors: list[FieldError] = []
    _CHECKS[words](obj, errors)
    return errors


def being_deleted(obj: Any) -> bool:
    """``metadata.deletionTimestamp`` is set: the object is on its way out, and only finalizers are left to remove.

    Denying such an object's UPDATEs would keep it (and its namespace) Terminating forever.
    """
    if type(obj) is dict:
        metadata = obj.get("metadata")
        return type(metadata) is dict and metadata.get("deletionTimestamp") is not None
    return False


_MISSING = object()


def _value_at(obj: Any, field: str) -> Any:
    """The value at a field path (``spec.authSecretRef.key``); null counts as absent, as the apiserver prunes it."""
    value = obj
    for name in field.split(".") if field else ():
        if type(value) is not dict:
            return _MISSING
        value = value.get(name)
        if value is None:
            return _MISSING
    return value


def _same(a: Any, b: Any) -> bool:
    """JSON equality as Go's DeepEqual sees decoded values: 1, 1.0 and true are three different values."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


class Ratcheted(NamedTuple):
    """An UPDATE's errors, split: those the update made (they deny) and those it left as they were."""

    denying: list[FieldError]
    unchanged: list[FieldError]


def ratchet(errors: list[FieldError], obj: Any, old: Any) -> Ratcheted:
    """Validation ratcheting, as the apiserver does it for CRDs since 1.30: on UPDATE, an error at a field whose
    value equals the one in ``old`` (or that is absent in both) does not deny. Changing a bad value to another bad
    value, or making a good one bad, still does.
    """
    if type(old) is not dict:  # nothing to compare with (the apiserver always sends oldObject with an UPDATE)
        return Ratcheted(list(errors), [])
    denying: list[FieldError] = []
    unchanged: list[FieldError] = []
    for error in errors:
        before, after = _value_at(old, error.field), _value_at(obj, error.field)
        same = before is after if _MISSING in (before, after) else _same(before, after)
        (unchanged if same else denying).append(error)
    return Ratcheted(denying, unchanged)


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
    return SCHEMA.openapi()
