"""Property tests of the rules' wording: every cause's reason and message, per Kubernetes version, against an oracle.

The oracle (tests/support/wording_oracle.py) finds the wrong fields with the hand-written JSON Schema and words them
from the Kubernetes sources, sharing no code with ``webhook``. Its own pieces are pinned first, against examples
taken from the wording research (values printed by Go itself).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import connection_pools, fuzz, json_values
from tests.support.reviews import pool
from tests.support.wording_oracle import VERSIONS, Cause, check_causes, expected_causes, go_float, go_sharp_v
from webhook.rules import ruleset, wording


@pytest.mark.parametrize(("value", "printed"), [
    (1.5, "1.5"), (1.0, "1"), (1e3, "1000"), (123456.0, "123456"), (1e6, "1e+06"), (1000001.0, "1.000001e+06"),
    (1234567.0, "1.234567e+06"), (1e21, "1e+21"), (0.00001, "1e-05"), (0.0001, "0.0001"),
    (float(2**63), "9.223372036854776e+18"), (-0.0, "-0"), (0.0, "0"), (-2.5e-7, "-2.5e-07"),
    (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
])
def test_oracle_prints_floats_as_go(value: float, printed: str) -> None:
    assert go_float(value) == printed


@pytest.mark.parametrize(("value", "printed"), [
    ({"a": 1}, 'map[string]interface {}{"a":1}'),
    (["x"], '[]interface {}{"x"}'),
    ({"b": [None, True], "a": 2.5}, 'map[string]interface {}{"a":2.5, "b":[]interface {}{interface {}(nil), true}}'),
    ([2**63], "[]interface {}{9.223372036854776e+18}"),
])
def test_oracle_prints_composites_as_go(value: Any, printed: str) -> None:
    assert go_sharp_v(value) == printed


def test_oracle_words_each_kind_of_cause() -> None:
    obj = pool(project="p" * 64, poolMode=1, poolSize="10", authSecretRef={"key": ""}, username=None)
    obj["metadata"]["name"] = ""
    supported = 'supported values: "session", "transaction", "statement"'
    common = [
        Cause("spec.poolMode", "FieldValueNotSupported", f"Unsupported value: 1: {supported}"),
        Cause("spec.authSecretRef.key", "FieldValueInvalid",
              'Invalid value: "": spec.authSecretRef.key in body should be at least 1 chars long'),
        Cause("spec.username", "FieldValueRequired", "Required value"),
        Cause("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"),
    ]

    def types(reason: str) -> list[Cause]:
        return [Cause("spec.poolMode", reason, 'Invalid value: "integer": spec.poolMode in body must be of type '
                                               'string: "integer"'),
                Cause("spec.poolSize", reason, 'Invalid value: "string": spec.poolSize in body must be of type '
                                               'integer: "string"')]

    too_long = {
        "1.23": Cause("spec.project", "FieldValueInvalid",
                      f'Invalid value: "{"p" * 64}": spec.project in body should be at most 63 chars long'),
        "1.28": Cause("spec.project", "FieldValueTooLong", "Too long: may not be longer than 63"),
        "1.33": Cause("spec.project", "FieldValueTooLong", "Too long: may not be more than 63 bytes"),
    }
    for version, long_cause in too_long.items():
        reason = "FieldValueInvalid" if version == "1.23" else "FieldValueTypeInvalid"
        assert sorted(expected_causes(obj, version)) == sorted([*types(reason), long_cause, *common])


def causes_of(obj: Any, version: str) -> list[tuple[str, str, str]]:
    return [(e.field, str(e.type), e.message) for e in ruleset.validate(obj, wording.for_version(version))]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_known_object_is_worded_as_the_oracle_words_it(version: str) -> None:
    obj = pool(project="p" * 64, poolMode={"b": [1.5], "a": None}, poolSize=2**63, authSecretRef={"name": ""})
    check_causes(obj, causes_of(obj, version), version)


@pytest.mark.property
@pytest.mark.slow
@fuzz(600)
@given(obj=connection_pools(), version=st.sampled_from(VERSIONS))
def test_causes_agree_with_the_oracle(obj: dict[str, Any], version: str) -> None:
    check_causes(obj, causes_of(obj, version), version)


@pytest.mark.property
@fuzz(200)
@given(obj=json_values(20), version=st.sampled_from(VERSIONS))
def test_causes_agree_with_the_oracle_on_any_json_value(obj: Any, version: str) -> None:
    check_causes(obj, causes_of(obj, version), version)
