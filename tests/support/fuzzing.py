"""The fuzzing kit shared by the property tests: an independent oracle of the rules and hypothesis strategies.

The oracle is a JSON Schema written by hand from the API reference (tests/data/connectionpool.schema.json), checked by
the ``jsonschema`` library after the apiserver's null pruning; it shares no code with ``webhook``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable
from typing import Any

import jsonpatch
import jsonpointer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, validators

from tests.support import DATA
from webhook.rules import connectionpool

SCHEMA_FILE = DATA / "connectionpool.schema.json"
ORACLE_SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())


# go-openapi's IsFloat64AJSONInteger bound: kube-openapi accepts whole floats within it as integers.
MAX_JSON_FLOAT_INT = 9007199254740991


def near_integer(value: float) -> bool:
    """go-openapi's IsFloat64AJSONInteger as the newest apiserver has it (swag/conv): within +-(2**53 - 1), and
    whole or within a relative 1e-9 of math.Round(value) (half away from zero)."""
    if math.isnan(value) or math.isinf(value) or abs(value) > MAX_JSON_FLOAT_INT:
        return False
    nearest = math.copysign(math.floor(abs(value) + 0.5), value)
    return value == nearest or (nearest != 0 and abs(value - nearest) < 1e-9 * abs(nearest))


def _is_apiserver_integer(_checker: Any, value: Any) -> bool:
    # The apiserver's decoder keeps 1.0 and 1e3 as floats, and kube-openapi's type check then takes a (nearly)
    # whole float as an integer; an int literal beyond int64 becomes a float too, beyond that bound. bool is never
    # an integer.
    if type(value) is float:
        return near_integer(value)
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


OracleValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_apiserver_integer),
)
ORACLE = OracleValidator(ORACLE_SCHEMA)
ENUM_FIELDS = {"apiVersion", "kind", "spec.poolMode"}


def prune_nulls(value: Any) -> Any:
    """The apiserver drops nulls of non-nullable fields before validating: null is the same as absent."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def oracle_fields(obj: Any) -> set[str]:
    """Field paths (``spec.poolMode``, ``metadata.name``...) the oracle rejects; empty means valid."""
    fields: set[str] = set()
    for error in ORACLE.iter_errors(prune_nulls(obj)):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required":
            fields.update(".".join([*path, p]) for p in error.validator_value if p not in error.instance)
        else:
            fields.add(".".join(path))
    return fields


# ---------------------------------------------------------------------------------------------------------------
# Strategies

API_VERSION = "aiven.io/v1alpha1"
API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")  # of AdmissionReview
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Boundaries of int64, of float64 (beyond ~1.8e308 an int has no float form) and of Python's 4300-digit limit.
BIG_INTS = [INT64_MAX, INT64_MAX + 1, INT64_MIN, INT64_MIN - 1, 2**64, 10**30, 10**308, 10**309, -(10**400),
            10**4000]


def big_ints() -> st.SearchStrategy[int]:
    # Drawn by index so that Hypothesis' reports do not print 4000-digit numbers.
    return st.integers(0, len(BIG_INTS) - 1).map(BIG_INTS.__getitem__)
LOOKS_INTEGER = [1.0, -0.0, 1e3, 25.0, 9.223372036854776e18, 1e300]
EDGE_STRINGS = ["", " ", "\x00", "\t\n", "\u200b", "e\u0301", "\U0001f600", "\ud800", "\udfff", "\ud83d\ude00",
                "\ufeff", "\u202e", "session\x00", "SESSION", " session", "transaction ", "true", "10", "null",
                "aiven.io/v1alpha1 ", "Aiven.io/v1alpha1", "connectionpool"]
# Characters of 1, 2, 3 and 4 UTF-8 bytes and a combining mark: lengths must count code points, not bytes.
WIDE_CHARS = st.sampled_from(["a", "é", "\u20ac", "\U0001f600", "\u0301", "\ud800"])


def json_scalars(floats: bool = True) -> st.SearchStrategy[Any]:
    parts: list[st.SearchStrategy[Any]] = [
        st.none(), st.booleans(), st.integers(), big_ints(), st.sampled_from(LOOKS_INTEGER),
        st.text(max_size=12), st.sampled_from(EDGE_STRINGS),
    ]
    if floats:
        parts.append(st.floats(allow_nan=False, allow_infinity=False))
    return st.one_of(parts)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value (NaN and Infinity excluded: they are not JSON; raw-byte tests send them)."""
    return st.recursive(
        json_scalars(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=max_leaves,
    )


def sized_text(limit: int) -> st.SearchStrategy[str]:
    """Strings of exactly limit-1, limit or limit+1 code points, in multi-byte characters."""
    return st.sampled_from([0, 1, limit - 1, limit, limit + 1]).flatmap(
        lambda n: st.text(alphabet=WIDE_CHARS, min_size=max(n, 0), max_size=max(n, 0))
    )


def mostly(valid: st.SearchStrategy[Any], weight: int = 3) -> st.SearchStrategy[Any]:
    """Usually a value from ``valid``, sometimes any JSON value at all (wrong types included)."""
    return st.one_of([valid] * weight + [json_values(), big_ints(), st.sampled_from(EDGE_STRINGS + LOOKS_INTEGER)])


def objects(fields: dict[str, st.SearchStrategy[Any]], presence: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """A dict where each field is present ``presence`` times out of 10, null once, and unknown keys may appear."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values(4), max_size=2))
        for key, strategy in fields.items():
            roll = draw(st.integers(0, 9))
            if roll < presence:
                out[key] = draw(strategy)
            elif roll == 9:
                out[key] = None
        return out

    return build()


def names() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(["my-pool", "a", "pool-jpnjx"]), st.text(min_size=1, max_size=20),
                     st.text(alphabet=WIDE_CHARS, min_size=1, max_size=300))


def connection_pools() -> st.SearchStrategy[dict[str, Any]]:
    """ConnectionPool-shaped objects: mostly plausible, with every way of being wrong mixed in."""
    metadata = objects({
        "name": mostly(names()),
        "namespace": mostly(st.sampled_from(["default", "kube-system", ""])),
        "generateName": st.just("pool-"),
        "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=2),
    })
    spec = objects({
        "databaseName": mostly(st.one_of(st.just("defaultdb"), sized_text(40))),
        "project": mostly(st.one_of(st.just("my-project"), sized_text(63))),
        "serviceName": mostly(st.one_of(st.just("my-pg"), sized_text(63))),
        "username": mostly(st.one_of(st.just("avnadmin"), sized_text(64))),
        "poolMode": mostly(st.sampled_from(connectionpool.POOL_MODES)),
        "poolSize": mostly(st.one_of(st.integers(), st.integers(0, 100),
                                     st.sampled_from([INT64_MAX, INT64_MIN, INT64_MAX + 1, INT64_MIN - 1]))),
        "authSecretRef": mostly(objects({
            "key": mostly(st.one_of(st.just("token"), sized_text(1))),
            "name": mostly(st.one_of(st.just("aiven-token"), sized_text(1))),
        })),
        "connInfoSecretTarget": mostly(objects({"name": mostly(st.one_of(names(), st.just("")))}), weight=2),
    }, presence=7)
    return objects({
        "apiVersion": mostly(st.sampled_from([API_VERSION, "aiven.io/v1", "v1"]), weight=6),
        "kind": mostly(st.sampled_from(["ConnectionPool", "Pod"]), weight=6),
        "metadata": mostly(metadata, weight=6),
        "spec": mostly(spec, weight=6),
    }, presence=9)


def admission_reviews() -> st.SearchStrategy[dict[str, Any]]:
    """AdmissionReviews with any field missing, null or of the wrong type, around any object."""
    request = objects({
        "uid": mostly(st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=40))),
        "operation": mostly(st.sampled_from(OPERATIONS), weight=8),
        "object": mostly(connection_pools(), weight=6),
        "oldObject": mostly(st.just({"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPool"})),
        "kind": mostly(st.just({"group": "aiven.io", "version": "v1alpha1", "kind": "ConnectionPool"})),
        "name": mostly(names()),
        "namespace": mostly(st.sampled_from(["default", ""])),
        "dryRun": mostly(st.booleans()),
        "userInfo": mostly(objects({"username": mostly(st.text(max_size=10)),
                                    "groups": mostly(st.lists(st.text(max_size=10), max_size=2))})),
    }, presence=9)
    return objects({
        "apiVersion": mostly(st.sampled_from(API_VERSIONS), weight=8),
        "kind": mostly(st.just("AdmissionReview"), weight=8),
        "request": mostly(request, weight=8),
    }, presence=9)



# ---------------------------------------------------------------------------------------------------------------
# Checks shared with the HTTPS tests


def defaultable_name(obj: Any) -> str | None:
    """The name that defaulting should copy into spec.connInfoSecretTarget.name, or None if it should not act."""
    if not isinstance(obj, dict) or not isinstance(obj.get("spec"), dict):
        return None
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return None
    target = obj["spec"].get("connInfoSecretTarget")
    if target is None or (isinstance(target, dict) and target.get("name") is None):
        return name
    return None


def _without(doc: Any, pointer: str) -> Any:
    """A copy of ``doc`` with the member at ``pointer`` removed, if its parent is an object that has it."""
    out = copy.deepcopy(doc)
    parent, _, last = pointer.rpartition("/")
    container = jsonpointer.resolve_pointer(out, parent, None) if parent else out
    if isinstance(container, dict):
        container.pop(jsonpointer.unescape(last), None)
    return out


def check_defaulting(obj: Any, ops: list[dict[str, Any]], mutate: Callable[[Any], list[dict[str, Any]]]) -> None:
    """The patch adds only absent (or null) paths, applies, sets the target name, touches nothing else, and a
    second round on the patched object patches nothing."""
    expected_name = defaultable_name(obj)
    if expected_name is None:
        assert ops == []
        return
    assert ops, "an object without spec.connInfoSecretTarget.name must be defaulted"
    for op in ops:
        assert op["op"] == "add", op
        assert jsonpointer.resolve_pointer(obj, op["path"], None) is None, f"{op['path']} is not absent"
    patched = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(obj))
    assert patched["spec"]["connInfoSecretTarget"]["name"] == obj["metadata"]["name"]
    for op in ops:
        assert _without(patched, op["path"]) == _without(obj, op["path"])
    assert mutate(patched) == []


def _at(obj: Any, field: str) -> Any:
    for name in field.split("."):
        obj = obj.get(name) if isinstance(obj, dict) else None
    return obj


def check_verdict(obj: Any, fields: Iterable[str]) -> None:
    """The rules' error fields are exactly the oracle's, one cause each; two for a value of the wrong type in an
    enum field (kube-openapi reports the type, then runs the enum check anyway)."""
    reported = list(fields)
    expected = oracle_fields(obj)
    assert set(reported) == expected, f"webhook {sorted(reported)} != oracle {sorted(expected)}"
    twice = {f for f in expected if f in ENUM_FIELDS and not isinstance(_at(obj, f), str | None)}
    assert sorted(reported) == sorted([*expected, *twice]), f"causes per field: {reported}"


def fuzz(examples: int, shared_fixture: bool = False) -> settings:
    """Bounded, no deadline (the machine is shared), and no example database in the repo.

    ``shared_fixture``: the test reuses a function-scoped fixture (one kept-alive connection) across examples, on
    purpose.
    """
    checks = [HealthCheck.too_slow] + ([HealthCheck.function_scoped_fixture] if shared_fixture else [])
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=checks)
