"""Property tests of the ConnectionPool rules against an independent oracle, without HTTP.

What this proves: for thousands of generated ConnectionPool-shaped objects (wrong types at every field, strings
around every length limit in multi-byte characters, lone surrogates, int64 boundaries and far beyond, floats that
look like integers, nulls, unknown fields), ``webhook.rules.ruleset.validate`` never raises and reports exactly
the fields that a hand-written JSON Schema of the API reference (tests/data/connectionpool.schema.json, checked by
the ``jsonschema`` library) rejects, one cause per field; and ``default`` only ever adds the one absent path it
owns, with a patch that applies, and is idempotent.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import (
    API_VERSION,
    INT64_MAX,
    ORACLE_SCHEMA,
    OracleValidator,
    check_defaulting,
    check_verdict,
    connection_pools,
    fuzz,
    json_values,
    near_integer,
    oracle_fields,
)
from webhook.rules import connectionpool, ruleset

VALID = {
    "apiVersion": API_VERSION,
    "kind": "ConnectionPool",
    "metadata": {"name": "my-pool"},
    "spec": {"databaseName": "defaultdb", "project": "p", "serviceName": "s", "username": "u"},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    return jsonpatch.JsonPatch([{"op": "add", "path": path, "value": value}]).apply(copy.deepcopy(VALID))


def test_oracle_schema_is_valid_json_schema() -> None:
    OracleValidator.check_schema(ORACLE_SCHEMA)


@pytest.mark.parametrize(
    ("obj", "fields"),
    [
        (VALID, set()),
        (_with("/spec/poolSize", 1.0), set()),
        (_with("/spec/poolSize", 1e3), set()),
        (_with("/spec/poolSize", 1.5), {"spec.poolSize"}),
        (_with("/spec/poolSize", 2.0**53), {"spec.poolSize"}),
        (_with("/spec/poolSize", True), {"spec.poolSize"}),
        (_with("/spec/poolSize", INT64_MAX), set()),
        (_with("/spec/poolSize", INT64_MAX + 1), {"spec.poolSize"}),
        (_with("/spec/poolMode", None), set()),
        (_with("/spec/project", None), {"spec.project"}),
        (_with("/spec/databaseName", ""), set()),
        (_with("/spec/databaseName", "\U0001f600" * 40), set()),
        (_with("/spec/authSecretRef", {"key": ""}), {"spec.authSecretRef.key"}),
        (_with("/metadata/name", ""), {"metadata.name"}),
        (_with("/spec/connInfoSecretTarget", {}), {"spec.connInfoSecretTarget.name"}),
        (_with("/spec/x-unknown", {"anything": [1, None]}), set()),
        ([], {""}),
    ],
)
def test_oracle_encodes_apiserver_semantics(obj: Any, fields: set[str]) -> None:
    """The oracle itself: null pruning, 1.0 an integer, 1.5 and true not, int64 range, code points, minLength 1."""
    assert oracle_fields(obj) == fields


@pytest.mark.property
@pytest.mark.slow
@fuzz(1000)
@given(obj=connection_pools())
def test_rules_agree_with_oracle(obj: dict[str, Any]) -> None:
    check_verdict(obj, [e.field for e in ruleset.validate(obj)])


@pytest.mark.property
@fuzz(300)
@given(obj=json_values(20))
def test_rules_agree_with_oracle_on_any_json_value(obj: Any) -> None:
    check_verdict(obj, [e.field for e in ruleset.validate(obj)])


@pytest.mark.property
@fuzz(300)
@given(value=st.one_of(st.floats(), st.sampled_from([math.inf, -math.inf, math.nan])))
def test_rules_take_only_near_whole_floats_within_2_53_as_integers(value: float) -> None:
    # kube-openapi's IsFloat64AJSONInteger; NaN and Infinity never arrive as JSON, but must not trip the rules.
    errors = ruleset.validate(_with("/spec/poolSize", value))
    assert [e.field for e in errors] == ([] if near_integer(value) else ["spec.poolSize"])


@pytest.mark.parametrize("size", [10**309, -(10**309), 10**4000], ids=["1e309", "-1e309", "1e4000"])
def test_integer_beyond_float_range_is_a_type_error(size: int) -> None:
    # Never a valid poolSize, and judging it must not crash the rules: float(10**309) raises OverflowError.
    # The HTTP path cannot produce such an int today (the JSON decoder refuses it), but validate() is the one
    # rules function every entry point shares, and Python callers (YAML, a CLI) can hand it any int.
    errors = ruleset.validate(_with("/spec/poolSize", size))
    assert [(e.field, e.type) for e in errors] == [("spec.poolSize", "FieldValueTypeInvalid")]


def _default_ops(obj: Any) -> list[dict[str, Any]]:
    return list(connectionpool.default(obj).patch)


@pytest.mark.property
@pytest.mark.slow
@fuzz(500)
@given(obj=connection_pools())
def test_defaulting_adds_only_the_absent_target_name(obj: dict[str, Any]) -> None:
    check_defaulting(obj, _default_ops(obj), _default_ops)
