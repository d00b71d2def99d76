"""The ConnectionPool rules, at their boundaries, on both sides: the pure functions every entry point uses."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest

from tests.support.commands import command
from tests.support.reviews import pool
from webhook.rules import connectionpool, ruleset, validator, wording
from webhook.rules.connectionpool import default
from webhook.rules.openapi import openapi
from webhook.rules.ruleset import validate
from webhook.rules.schema import Object, String


def causes(obj: Any) -> list[tuple[str, str, str]]:
    return [(e.field, e.type, e.message) for e in validate(obj)]


def test_a_complete_pool_is_valid() -> None:
    obj = pool(poolMode="transaction", poolSize=25, authSecretRef={"key": "token", "name": "aiven-token"},
               connInfoSecretTarget={"name": "s"})
    assert validate(obj) == []


@pytest.mark.parametrize(("field", "limit"), [("databaseName", 40), ("project", 63), ("serviceName", 63),
                                              ("username", 64)])
def test_max_length_boundary(field: str, limit: int) -> None:
    assert validate(pool(**{field: "a" * limit})) == []
    assert causes(pool(**{field: "a" * (limit + 1)})) == [
        (f"spec.{field}", "FieldValueTooLong", f"Too long: may not be more than {limit} bytes")
    ]


@pytest.mark.parametrize("char", ["é", "数", "😀"])
def test_lengths_count_characters_not_bytes(char: str) -> None:
    assert len(char.encode()) > 1
    assert validate(pool(databaseName=char * 40)) == []
    assert [c[1] for c in causes(pool(databaseName=char * 41))] == ["FieldValueTooLong"]


@pytest.mark.parametrize("field", ["databaseName", "project", "serviceName", "username"])
def test_required_spec_fields(field: str) -> None:
    assert causes(pool(**{field: None})) == [(f"spec.{field}", "FieldValueRequired", "Required value")]


@pytest.mark.parametrize("field", ["databaseName", "project", "serviceName", "username"])
def test_null_is_absent_like_the_apiserver_prunes_it(field: str) -> None:
    obj = pool()
    obj["spec"][field] = None
    assert causes(obj) == [(f"spec.{field}", "FieldValueRequired", "Required value")]


def test_empty_required_string_passes_like_native_validation() -> None:
    # Required means present; without minLength the apiserver accepts "".
    assert validate(pool(databaseName="", project="", serviceName="", username="")) == []


@pytest.mark.parametrize("mode", connectionpool.POOL_MODES)
def test_pool_modes(mode: str) -> None:
    assert validate(pool(poolMode=mode)) == []


@pytest.mark.parametrize("mode", ["bogus", "Session", "", " session"])
def test_unsupported_pool_mode(mode: str) -> None:
    quoted = '"' + mode + '"'
    assert causes(pool(poolMode=mode)) == [(
        "spec.poolMode", "FieldValueNotSupported",
        f'Unsupported value: {quoted}: supported values: "session", "transaction", "statement"',
    )]


def test_optional_null_fields_are_absent() -> None:
    obj = pool()
    obj["spec"].update(poolMode=None, poolSize=None, authSecretRef=None, connInfoSecretTarget=None)
    assert validate(obj) == []


@pytest.mark.parametrize("size", [0, 1, -1, 2**63 - 1, -(2**63), 1.0, -0.0, 1e3, 2.0**53 - 1,
                                  -(2.0**53 - 1)])
def test_pool_size_int64(size: float) -> None:
    # Whole floats within +-(2**53 - 1) are integers to kube-openapi (the apiserver decodes `1.0` as a float).
    assert validate(pool(poolSize=size)) == []


@pytest.mark.parametrize(("size", "found"), [
    (1.5, "number"), (2.0**53, "number"), (-(2.0**53), "number"), (1e300, "number"), (2**63, "number"),
    (-(2**63) - 1, "number"), (10**309, "number"),
    (-(10**4000), "number"), ("10", "string"),
    (True, "boolean"), ([1], "array"), ({"n": 1}, "object"),
])
def test_pool_size_type(size: Any, found: str) -> None:
    assert causes(pool(poolSize=size)) == [(
        "spec.poolSize", "FieldValueTypeInvalid",
        f'Invalid value: "{found}": spec.poolSize in body must be of type integer: "{found}"',
    )]


@pytest.mark.parametrize("field", ["databaseName", "project", "serviceName", "username"])
@pytest.mark.parametrize(("value", "found"), [(5, "integer"), (1.5, "number"), (True, "boolean"),
                                              (["a"], "array"), ({"a": "b"}, "object")])
def test_string_fields_reject_other_types(field: str, value: Any, found: str) -> None:
    assert causes(pool(**{field: value})) == [(
        f"spec.{field}", "FieldValueTypeInvalid",
        f'Invalid value: "{found}": spec.{field} in body must be of type string: "{found}"',
    )]


# kube-openapi runs the enum check on a value of any type, after the type check: two causes, in that order. Values
# print as Go's %v prints them; other values in Go syntax up to 1.33 and as JSON from 1.34.
@pytest.mark.parametrize(("value", "found", "shown", "shown_json"), [
    (5, "integer", "5", "5"), (1.5, "number", "1.5", "1.5"), (1e6, "number", "1e+06", "1e+06"),
    (True, "boolean", "true", "true"), (["a"], "array", '[]interface {}{"a"}', '["a"]'),
    ({"b": 1, "a": "x"}, "object", 'map[string]interface {}{"a":"x", "b":1}', '{"a":"x","b":1}'),
])
def test_enum_field_of_another_type_gets_two_causes(value: Any, found: str, shown: str, shown_json: str) -> None:
    supported = 'supported values: "session", "transaction", "statement"'
    for version, printed in (("1.28", shown), ("1.33", shown), ("1.34", shown_json)):
        assert causes_at(version, pool(poolMode=value)) == [
            ("spec.poolMode", "FieldValueTypeInvalid",
             f'Invalid value: "{found}": spec.poolMode in body must be of type string: "{found}"'),
            ("spec.poolMode", "FieldValueNotSupported", f"Unsupported value: {printed}: {supported}"),
        ]


def causes_at(version: str, obj: Any) -> list[tuple[str, str, str]]:
    return [(e.field, e.type, e.message) for e in validate(obj, wording.for_version(version))]


@pytest.mark.parametrize(("version", "reason", "message"), [
    ("1.24", "FieldValueInvalid", 'Invalid value: "{value}": spec.project in body should be at most 63 chars long'),
    ("v1.25.0", "FieldValueTooLong", "Too long: may not be longer than 63"),
    ("v1.28.7-gke.1026000", "FieldValueTooLong", "Too long: may not be longer than 63"),
    ("1.31", "FieldValueTooLong", "Too long: may not be longer than 63"),
    ("1.32", "FieldValueTooLong", "Too long: may not be more than 63 bytes"),
    ("1.36", "FieldValueTooLong", "Too long: may not be more than 63 bytes"),
])
def test_too_long_is_worded_as_each_version_words_it(version: str, reason: str, message: str) -> None:
    value = "p" * 64
    assert causes_at(version, pool(project=value)) == [("spec.project", reason, message.format(value=value))]


def test_type_errors_were_invalid_values_before_1_25() -> None:
    assert causes_at("1.24", pool(poolSize="7")) == [(
        "spec.poolSize", "FieldValueInvalid",
        'Invalid value: "string": spec.poolSize in body must be of type integer: "string"')]


def test_a_limit_of_one_is_one_byte() -> None:
    short = validator.compile(Object(properties={"x": String(max_length=1)}))
    errors: list[Any] = []
    short({"x": "ab"}, errors)
    assert [e.message for e in errors] == ["Too long: may not be more than 1 byte"]


@pytest.mark.parametrize(("version", "row"), [
    ("0.9", "1.0"), ((0, 30), "1.0"), ("1.0", "1.0"), ("1.24", "1.0"), ("v1.25.0", "1.25"), ((1, 31), "1.25"),
    ("1.33", "1.32"), ("1.34.1", "1.34"), ("1.35", "1.35"), ("2.0", wording.LATEST.version),
    (None, wording.LATEST.version),
])
def test_each_version_gets_the_row_that_covers_it(version: Any, row: str) -> None:
    # Versions order as (major, minor) pairs: 0.30 is older than any row, 2.0 newer than all.
    assert wording.for_version(version).version == row


@pytest.mark.parametrize("version", ["", "1", "one.two", "1.28.x.y", "latest"])
def test_unknown_version_shapes_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        wording.for_version(version)


@pytest.mark.parametrize("key", ["key", "name"])
def test_auth_secret_ref_min_length(key: str) -> None:
    assert validate(pool(authSecretRef={key: "x"})) == []
    assert validate(pool(authSecretRef={})) == []
    assert causes(pool(authSecretRef={key: ""})) == [(
        f"spec.authSecretRef.{key}", "FieldValueInvalid",
        f'Invalid value: "": spec.authSecretRef.{key} in body should be at least 1 chars long',
    )]


@pytest.mark.parametrize("value", ["s", [], 1])
def test_object_fields_must_be_objects(value: Any) -> None:
    for field in ("authSecretRef", "connInfoSecretTarget"):
        assert [c[:2] for c in causes(pool(**{field: value}))] == [(f"spec.{field}", "FieldValueTypeInvalid")]


def test_conn_info_secret_target_needs_a_string_name() -> None:
    assert causes(pool(connInfoSecretTarget={})) == [
        ("spec.connInfoSecretTarget.name", "FieldValueRequired", "Required value")
    ]
    assert [c[:2] for c in causes(pool(connInfoSecretTarget={"name": 7}))] == [
        ("spec.connInfoSecretTarget.name", "FieldValueTypeInvalid")
    ]


def test_top_level_rules() -> None:
    obj = pool()
    obj.update(apiVersion="aiven.io/v1beta1", kind="Pool")
    assert causes(obj) == [
        ("apiVersion", "FieldValueNotSupported",
         'Unsupported value: "aiven.io/v1beta1": supported values: "aiven.io/v1alpha1"'),
        ("kind", "FieldValueNotSupported", 'Unsupported value: "Pool": supported values: "ConnectionPool"'),
    ]
    assert [c[:2] for c in causes({})] == [
        ("apiVersion", "FieldValueRequired"), ("kind", "FieldValueRequired"), ("metadata", "FieldValueRequired"),
        ("spec", "FieldValueRequired"),
    ]


@pytest.mark.parametrize("metadata", [{}, {"name": ""}, {"name": None}, {"generateName": "pool-"}])
def test_metadata_name_required(metadata: dict[str, Any]) -> None:
    obj = pool()
    obj["metadata"] = metadata
    assert causes(obj) == [("metadata.name", "FieldValueRequired",
                            "Required value: name or generateName is required")]


@pytest.mark.parametrize("spec", ["x", [], 3])
def test_spec_must_be_an_object(spec: Any) -> None:
    obj = pool()
    obj["spec"] = spec
    assert [c[:2] for c in causes(obj)] == [("spec", "FieldValueTypeInvalid")]


def test_every_problem_is_reported_at_once() -> None:
    obj = pool(project="p" * 64, poolMode="bogus", poolSize="10", authSecretRef={"key": ""}, username=None)
    # Properties first, then the required ones missing, per object: kube-openapi's order.
    assert [c[0] for c in causes(obj)] == [
        "spec.project", "spec.poolMode", "spec.poolSize", "spec.authSecretRef.key", "spec.username",
    ]


def test_unknown_fields_are_not_errors() -> None:
    obj = pool(futureField={"x": 1})
    obj["status"] = {"anything": True}
    obj["metadata"]["labels"] = {"a": "b"}
    assert validate(obj) == []


def test_huge_values_are_not_echoed_whole() -> None:
    message = causes(pool(poolMode="x" * 100_000))[0][2]
    assert len(message) < 500 and "more characters" in message


def test_control_characters_are_quoted_like_go() -> None:
    assert causes(pool(poolMode='a"\n\x00\u200b'))[0][2].startswith(r'Unsupported value: "a\"\n\x00\u200b"')


# Defaulting


def applied(obj: dict[str, Any]) -> dict[str, Any]:
    return jsonpatch.JsonPatch(list(default(obj).patch)).apply(obj)


def test_default_adds_the_whole_target_when_absent() -> None:
    obj = pool()
    out = default(obj)
    assert out.patch == ({"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "my-pool"}},)
    assert out.warnings == ()
    assert validate(applied(obj)) == []


def test_default_adds_only_the_name_when_the_target_exists() -> None:
    obj = pool(connInfoSecretTarget={"future": "kept"})
    patched = applied(obj)
    assert patched["spec"]["connInfoSecretTarget"] == {"future": "kept", "name": "my-pool"}


@pytest.mark.parametrize("target", [{"name": "custom"}, {"name": ""}, {"name": 5}, "not-an-object"])
def test_default_leaves_a_present_name_or_a_malformed_target_alone(target: Any) -> None:
    assert default(pool(connInfoSecretTarget=target)).patch == ()


def test_default_is_idempotent() -> None:
    once = applied(pool())
    assert default(once).patch == ()


def test_default_touches_nothing_else() -> None:
    obj = pool(extra={"nested": [1, 2, {"deep": None}]})
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    before = copy.deepcopy(obj)
    patched = applied(obj)
    del patched["spec"]["connInfoSecretTarget"]
    assert patched == before


@pytest.mark.parametrize("metadata", [{"generateName": "pool-"}, {"name": ""}, {}])
def test_no_name_yet_means_a_warning_not_a_patch(metadata: dict[str, Any]) -> None:
    obj = pool()
    obj["metadata"] = metadata
    out = default(obj)
    assert out.patch == ()
    assert len(out.warnings) == 1 and len(out.warnings[0]) < 120 and "generateName" in out.warnings[0]


@pytest.mark.parametrize("obj", [{}, {"spec": None}, {"spec": "x"}, {"spec": []}, {"metadata": {"name": "a"}}])
def test_default_never_fails_on_malformed_objects(obj: Any) -> None:
    assert default(obj).patch == ()


def test_exported_schema_is_derived_from_the_rules() -> None:
    spec = openapi(connectionpool.SCHEMA)["properties"]["spec"]
    assert spec["required"] == ["databaseName", "project", "serviceName", "username"]
    assert spec["properties"]["poolMode"]["enum"] == list(connectionpool.POOL_MODES)
    assert spec["properties"]["project"]["maxLength"] == 63
    assert spec["properties"]["connInfoSecretTarget"]["required"] == ["name"]


@pytest.mark.parametrize("target", [{}, {"name": None}, {"other": 1}])
def test_admit_defaults_then_judges_an_existing_target_without_a_name(target: dict[str, Any]) -> None:
    obj = pool(connInfoSecretTarget=target)
    before = copy.deepcopy(obj)
    admitted = ruleset.admit(obj)
    assert admitted.errors == [] and admitted.patch == (
        {"op": "add", "path": "/spec/connInfoSecretTarget/name", "value": "my-pool"},)
    assert obj == before  # the caller's object is left alone
    assert connectionpool.apply(obj, admitted.patch) == jsonpatch.apply_patch(obj, list(admitted.patch))


def test_schema_command_prints_the_rules() -> None:
    result = command("schema")
    schema = json.loads(result.stdout)
    assert schema["properties"]["spec"]["properties"]["databaseName"]["maxLength"] == 40
