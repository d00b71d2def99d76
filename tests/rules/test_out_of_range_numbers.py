"""Integers beyond int64 are "number"s to the apiserver, in any field.

The apiserver's JSON decoder reads an integer literal that fits in int64 as an integer and any other as a float64,
so kube-openapi's type check names the type it found "integer" for the first and "number" for the second: a string
field holding 2**64 says ``must be of type string: "number"``, and the integer field refuses it as a "number" too.
"""

from __future__ import annotations

import json

import pytest

from tests.support.https import Client
from tests.support.reviews import pool, review
from webhook.rules import ruleset

INT64_MAX = 9223372036854775807
INT64_MIN = -9223372036854775808
BEYOND = [INT64_MAX + 1, INT64_MIN - 1, 18446744073709551616]  # 2**63, -(2**63)-1, 2**64
WITHIN = [INT64_MAX, INT64_MIN, 0]


def causes(obj: object) -> list[tuple[str, str, str]]:
    return [(e.field, str(e.cause["reason"]), e.message) for e in ruleset.validate(obj)]


def type_error(field: str, expected: str, found: str) -> tuple[str, str, str]:
    return (field, "FieldValueTypeInvalid",
            f'Invalid value: "{found}": {field} in body must be of type {expected}: "{found}"')


@pytest.mark.parametrize("number", BEYOND)
def test_beyond_int64_in_a_string_field_is_a_number(number: int) -> None:
    assert causes(pool(project=number)) == [type_error("spec.project", "string", "number")]


@pytest.mark.parametrize("number", WITHIN)
def test_within_int64_in_a_string_field_is_an_integer(number: int) -> None:
    assert causes(pool(project=number)) == [type_error("spec.project", "string", "integer")]


@pytest.mark.parametrize("number", BEYOND)
def test_beyond_int64_in_the_integer_field_is_a_number(number: int) -> None:
    assert causes(pool(poolSize=number)) == [type_error("spec.poolSize", "integer", "number")]


@pytest.mark.parametrize("number", WITHIN)
def test_within_int64_the_integer_field_is_valid(number: int) -> None:
    assert causes(pool(poolSize=number)) == []


@pytest.mark.parametrize("number", BEYOND + WITHIN)
@pytest.mark.parametrize(("field", "expected"), [("project", "string"), ("poolSize", "integer")])
def test_over_https_the_literal_is_read_as_the_apiserver_reads_it(client: Client, field: str, expected: str,
                                                                  number: int) -> None:
    body = json.dumps(review(pool(**{field: number}))).encode()
    assert str(number).encode() in body  # the exact integer literal goes over the wire
    response = client.post("/validate", body).json()["response"]
    found = "integer" if INT64_MIN <= number <= INT64_MAX else "number"
    if (field, found) == ("poolSize", "integer"):
        assert response["allowed"] is True
        return
    assert response["allowed"] is False
    field_path = f"spec.{field}"
    [cause] = response["status"]["details"]["causes"]
    assert (cause["field"], cause["reason"], cause["message"]) == type_error(field_path, expected, found)


SUPPORTED = 'supported values: "session", "transaction", "statement"'


@pytest.mark.parametrize("number", BEYOND)
def test_beyond_int64_in_the_enum_field_is_a_number(number: int) -> None:
    [type_cause, _] = causes(pool(poolMode=number))
    assert type_cause == type_error("spec.poolMode", "string", "number")


@pytest.mark.parametrize(("number", "shown"), [
    (INT64_MAX + 1, "9.223372036854776e+18"),  # the example in the wording research, checked with go1.19
    (INT64_MIN - 1, "-9.223372036854776e+18"),
    (18446744073709551616, "1.8446744073709552e+19"),
])
def test_beyond_int64_in_the_enum_field_is_shown_as_the_float_the_apiserver_read(number: int, shown: str) -> None:
    [_, not_supported] = causes(pool(poolMode=number))
    assert not_supported == ("spec.poolMode", "FieldValueNotSupported", f"Unsupported value: {shown}: {SUPPORTED}")


@pytest.mark.parametrize(("number", "shown"), [(INT64_MAX, "9223372036854775807"), (INT64_MIN, "-9223372036854775808")])
def test_within_int64_the_enum_field_shows_the_integer(number: int, shown: str) -> None:
    assert causes(pool(poolMode=number)) == [
        type_error("spec.poolMode", "string", "integer"),
        ("spec.poolMode", "FieldValueNotSupported", f"Unsupported value: {shown}: {SUPPORTED}"),
    ]
