"""The schema module on its own: small declarations compiled into checks, exported as OpenAPI, read by projection.

The ConnectionPool rules are one schema; these tests declare their own, so that each kind of node and each option
is seen to do what the apiserver's OpenAPI validation does, apart from any one rule set. Expected messages are
written out from the Kubernetes wording (the newest one unless a test names a version).
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from webhook.rules import fielderrors as fe
from webhook.rules import validator, wording
from webhook.rules.openapi import openapi
from webhook.rules.schema import Boolean, Integer, Object, String
from webhook.serve.admission import projection
from webhook.tools.reference import rules_table

SUPPORTED = 'supported values: "a", "b"'


def check(schema: Object, value: Any, version: str | None = None) -> list[tuple[str, str, str]]:
    """(field, reason, message) of each error, in the order the compiled check reports them."""
    errors: list[Any] = []
    validator.compile(schema, wording.for_version(version))(value, errors)
    return [(e.field, str(e.type), e.message) for e in errors]


def type_error(field: str, expected: str, found: str) -> tuple[str, str, str]:
    return (field, "FieldValueTypeInvalid",
            f'Invalid value: "{found}": {field} in body must be of type {expected}: "{found}"')


ONE = Object(properties={"s": String(max_length=3, min_length=2)})


@pytest.mark.parametrize(("value", "errors"), [
    ("ab", []),
    ("abc", []),
    ("ééé", []),  # three characters, six bytes
    ("abcd", [("s", "FieldValueTooLong", "Too long: may not be more than 3 bytes")]),
    ("a", [("s", "FieldValueInvalid", 'Invalid value: "a": s in body should be at least 2 chars long')]),
    ("", [("s", "FieldValueInvalid", 'Invalid value: "": s in body should be at least 2 chars long')]),
    (None, []),  # null is absent
    (7, [type_error("s", "string", "integer")]),
    (2**63, [type_error("s", "string", "number")]),
    (1.0, [type_error("s", "string", "number")]),
    (True, [type_error("s", "string", "boolean")]),
    (["ab"], [type_error("s", "string", "array")]),
    ({"a": 1}, [type_error("s", "string", "object")]),
])
def test_string_lengths_and_type(value: Any, errors: list[tuple[str, str, str]]) -> None:
    assert check(ONE, {"s": value}) == errors


@pytest.mark.parametrize(("version", "message"), [
    ("1.23", ("s", "FieldValueInvalid", 'Invalid value: "abcd": s in body should be at most 3 chars long')),
    ("1.28", ("s", "FieldValueTooLong", "Too long: may not be longer than 3")),
    ("1.33", ("s", "FieldValueTooLong", "Too long: may not be more than 3 bytes")),
])
def test_too_long_is_worded_as_the_clusters_version(version: str, message: tuple[str, str, str]) -> None:
    assert check(ONE, {"s": "abcd"}, version) == [message]


def test_a_one_character_limit_says_byte() -> None:
    assert check(Object(properties={"s": String(max_length=1)}), {"s": "ab"}) == [
        ("s", "FieldValueTooLong", "Too long: may not be more than 1 byte")]


ENUM = Object(properties={"e": String(enum=("a", "b"))})


@pytest.mark.parametrize(("value", "errors"), [
    ("a", []),
    ("b", []),
    ("c", [("e", "FieldValueNotSupported", f'Unsupported value: "c": {SUPPORTED}')]),
    ("A", [("e", "FieldValueNotSupported", f'Unsupported value: "A": {SUPPORTED}')]),
    # kube-openapi runs the enum check on a value of the wrong type too: the type error, then the enum's.
    (1, [type_error("e", "string", "integer"), ("e", "FieldValueNotSupported", f"Unsupported value: 1: {SUPPORTED}")]),
    (1.5, [type_error("e", "string", "number"),
           ("e", "FieldValueNotSupported", f"Unsupported value: 1.5: {SUPPORTED}")]),
    (False, [type_error("e", "string", "boolean"),
             ("e", "FieldValueNotSupported", f"Unsupported value: false: {SUPPORTED}")]),
])
def test_enum(value: Any, errors: list[tuple[str, str, str]]) -> None:
    assert check(ENUM, {"e": value}) == errors


def test_an_enum_with_limits_checks_the_length_of_a_listed_value() -> None:
    both = Object(properties={"e": String(enum=("a", "bbbb"), max_length=3)})
    assert check(both, {"e": "bbbb"}) == [("e", "FieldValueTooLong", "Too long: may not be more than 3 bytes")]
    assert check(both, {"e": "a"}) == []


NUMBER = Object(properties={"i": Integer()})


@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -(2**63), 1.0, -0.0, 1e3, 2.0**53 - 1, -(2.0**53 - 1)])
def test_integers(value: Any) -> None:
    assert check(NUMBER, {"i": value}) == []


@pytest.mark.parametrize(("value", "found"), [
    (2**63, "number"), (-(2**63) - 1, "number"), (2**64, "number"), (1.5, "number"), (2.0**53, "number"),
    (-(2.0**53), "number"), (1e300, "number"), ("1", "string"), (True, "boolean"), ([1], "array"),
    ({"n": 1}, "object"),
])
def test_not_integers(value: Any, found: str) -> None:
    assert check(NUMBER, {"i": value}) == [type_error("i", "integer", found)]


def test_booleans() -> None:
    flag = Object(properties={"b": Boolean()})
    assert check(flag, {"b": True}) == check(flag, {"b": False}) == []
    assert check(flag, {"b": "true"}) == [type_error("b", "boolean", "string")]
    assert check(flag, {"b": 1}) == [type_error("b", "boolean", "integer")]


NESTED = Object(properties={
    "top": String(required=True),
    "name": String(required=True, blank_is_missing=True, required_detail="name or generateName is required"),
    "inner": Object(required=True, properties={
        "x": Integer(),
        "deep": Object(properties={"y": String(required=True)}),
    }),
    "free": Object(),
})


def test_required_fields_and_their_details() -> None:
    assert check(NESTED, {}) == [
        ("top", "FieldValueRequired", "Required value"),
        ("name", "FieldValueRequired", "Required value: name or generateName is required"),
        ("inner", "FieldValueRequired", "Required value"),
    ]


def test_null_and_blank() -> None:
    # null is absent everywhere; "" is absent only where blank_is_missing says so.
    value = {"top": "", "name": "", "inner": {"x": None, "deep": None}, "free": None}
    assert check(NESTED, value) == [
        ("name", "FieldValueRequired", "Required value: name or generateName is required")]


def test_paths_of_nested_errors_and_required_after_the_properties() -> None:
    value = {"name": "n", "inner": {"x": "1", "deep": {}}, "unknown": [1, {"any": None}]}
    assert check(NESTED, value) == [
        type_error("inner.x", "integer", "string"),
        ("inner.deep.y", "FieldValueRequired", "Required value"),
        ("top", "FieldValueRequired", "Required value"),
    ]


@pytest.mark.parametrize(("value", "found"), [([], "array"), ("x", "string"), (1, "integer"), (None, "null")])
def test_an_object_of_the_wrong_type_is_not_looked_into(value: Any, found: str) -> None:
    assert check(NESTED, {"top": "t", "name": "n", "inner": {"deep": value}}) == (
        [type_error("inner.deep", "object", found)] if value is not None else [])
    assert check(NESTED, value) == [type_error("", "object", found)]


def test_an_object_without_properties_takes_any_object() -> None:
    assert check(Object(properties={"free": Object()}), {"free": {"a": [1]}}) == []
    assert check(Object(properties={"free": Object()}), {"free": 3}) == [type_error("free", "object", "integer")]


def test_openapi_export() -> None:
    schema = Object(description="root", properties={
        "name": String(required=True, blank_is_missing=True),
        "mode": String(enum=("a", "b"), description="the mode"),
        "key": String(min_length=2, max_length=5),
        "size": Integer(),
        "flag": Boolean(),
        "ref": Object(properties={"k": String(required=True)}),
        "free": Object(),
    })
    assert openapi(schema) == {
        "type": "object",
        "description": "root",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "mode": {"type": "string", "description": "the mode", "enum": ["a", "b"]},
            "key": {"type": "string", "minLength": 2, "maxLength": 5},
            "size": {"type": "integer"},
            "flag": {"type": "boolean"},
            "ref": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
            "free": {"type": "object", "properties": {}},
        },
        "required": ["name"],
    }


def test_rules_table() -> None:
    schema = Object(properties={
        "name": String(required=True, blank_is_missing=True),
        "ref": Object(properties={"mode": String(enum=("a", "b"), max_length=9, min_length=1),
                                  "key": String(min_length=2)}),
        "size": Integer(),
        "flag": Boolean(required=True),
    })
    assert rules_table(schema) == "\n".join([
        "| field | type | required | rule |",
        "| --- | --- | --- | --- |",
        "| `name` | string | yes | non-empty |",
        "| `ref` | object |  |  |",
        "| `ref.mode` | string |  | one of `a`, `b`; at most 9 characters; at least 1 character |",
        "| `ref.key` | string |  | at least 2 characters |",
        "| `size` | integer (int64) |  |  |",
        "| `flag` | boolean | yes |  |",
    ])


def test_projection_reads_only_declared_properties() -> None:
    decode = msgspec.json.Decoder(projection(NESTED)).decode
    body = b'{"top":"t","skip":{"huge":[1,2,3]},"inner":{"x":1,"deep":{"y":"v","z":2},"w":[]},"free":{"a":1}}'
    assert decode(body) == {"top": "t", "inner": {"x": 1, "deep": {"y": "v"}}, "free": {"a": 1}}
    assert decode(b"null") is None
    with pytest.raises(msgspec.ValidationError):
        decode(b'{"inner":[1]}')  # an object's place holding something else: the full parse must judge it


def test_replace_at() -> None:
    replaced = NESTED.replace_at(("inner", "deep"), Integer(required=True))
    assert check(replaced, {"top": "t", "name": "n", "inner": {"deep": 5}}) == []
    assert check(replaced, {"top": "t", "name": "n", "inner": {}}) == [
        ("inner.deep", "FieldValueRequired", "Required value")]
    assert check(NESTED, {"top": "t", "name": "n", "inner": {"deep": 5}}) == [
        type_error("inner.deep", "object", "integer")]  # the original is untouched
    with pytest.raises(TypeError, match="top is not an object"):
        NESTED.replace_at(("top", "x"), Integer())


# go-openapi swag's IsFloat64AJSONInteger, which kube-openapi's type check asks whether a float is an integer: up to
# swag v0.23 the float is compared with its truncation (float64(uint64(f))), relative error under 1e-9; swag/conv
# (v0.24) compares it with math.Round (half away from zero). Both refuse anything beyond +-(2**53 - 1).
@pytest.mark.parametrize(("value", "truncating", "rounding"), [
    (3.0, True, True),
    (-3.0, True, True),
    (3.0000000001, True, True),
    (2.9999999999, False, True),  # truncates to 2: far; rounds to 3: near
    (-3.0000000001, False, True),  # a negative float has no unsigned truncation worth the name
    (1000.0000009, True, True),
    (1000.0000011, True, False),  # 1.1e-6 from 1000: within 1e-9 of 2000 (truncating), not of 1000 (rounding)
    (1000.0000021, False, False),
    (3.00001, False, False),
    (2.5, False, False),  # rounds to 3, half away from zero
    (-2.5, False, False),
    (0.5, False, False),
    (1e-300, False, False),  # near 0, and 0 is no reference for a relative error
    (9007199254740991.0, True, True),
    (9007199254740992.0, False, False),
    (-9007199254740992.0, False, False),
    (math.inf, False, False),
    (math.nan, False, False),
])
def test_which_floats_are_integers(value: float, truncating: bool, rounding: bool) -> None:
    assert fe.float_is_integer(value, rounding=False) is truncating
    assert fe.float_is_integer(value, rounding=True) is rounding


def test_the_newest_wording_rounds_near_integers() -> None:
    assert check(NUMBER, {"i": 2.9999999999}) == []
    assert check(NUMBER, {"i": 2.9999999999}, "1.28") == [type_error("i", "integer", "number")]
