"""The policy export: the generated CEL, run by a real CEL runtime, gives the webhook's verdicts case by case.

The cases are the rules' own fuzzing strategies (tests/support/fuzzing.py), decoded as the apiserver decodes a request
body. For each Kubernetes version whose wording or integer rule differs, every generated object must fail exactly the
validations the webhook (``RuleSet.validate``, ``validate_update``, ``being_deleted``) reports, in the same order and,
where CEL can print the bad value as Go does, with the same text; defaulting must produce the webhook's patch.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import jsonpatch
import kubernetes_validate
import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.support import DATA
from tests.support.fuzzing import connection_pools, fuzz, json_values, mostly, names, sized_text
from tests.support.policy_eval import (
    Undecodable,
    apiserver_decoded,
    evaluate,
    expected_failures,
    patch,
    without_nul,
)
from tests.support.reviews import pool, reference
from webhook.rules import connectionpool, ruleset, validator, wording
from webhook.rules import updates as update_rules
from webhook.rules.fielderrors import FieldError
from webhook.rules.schema import Boolean, Integer, Node, Object, String
from webhook.tools.policy import cel, chart
from webhook.tools.policy import objects as policy

# One version per distinct export: wording rows, API versions and go-openapi's integer rule.
VERSIONS = ["1.28", "1.30", "1.32", "1.34", "1.35", "1.36", f"{policy.NEWEST[0]}.{policy.NEWEST[1]}"]
GOLDEN = DATA / "policy"


def _exported(version: str) -> tuple[dict[str, Any], dict[str, Any] | None, wording.Wording]:
    objects = {o["kind"]: o for o in policy.export(version)}
    return objects["ValidatingAdmissionPolicy"]["spec"], (objects.get("MutatingAdmissionPolicy") or {}).get(
        "spec"), wording.for_version(version)


SPECS = {version: _exported(version) for version in VERSIONS}


# ---------------------------------------------------------------------------------------------------------------
# The webhook's verdict, where it and the apiserver's integer rule differ


def swag_integer(value: float, minor: tuple[int, int]) -> bool:
    """go-openapi's IsFloat64AJSONInteger, transcribed: swag <= v0.23 (Kubernetes up to 1.34) compares with the
    truncation float64(uint64(f)), swag/conv (v0.24+) with math.Round; both accept a relative error below 1e-9."""
    limit = 2.0**53 - 1
    if math.isnan(value) or math.isinf(value) or not -limit <= value <= limit:
        return False
    if minor >= (1, 35):
        rounded = math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)
        if value == rounded:
            return True
        return rounded != 0 and abs(value - rounded) < 1e-9 * abs(rounded)
    if value == int(value):
        return True
    if value < 1:  # uint64 of a negative float is garbage on amd64 (huge) and 0 on arm64: never near
        return False
    g = float(int(value))
    return (value - g) / (value + g) < 1e-9


def _at(obj: Any, field: str) -> Any:
    for name in field.split("."):
        obj = obj.get(name) if isinstance(obj, dict) else None
    return obj


def webhook_errors(obj: Any, words: wording.Wording, minor: tuple[int, int], old: Any = None,
                   operation: str = "CREATE") -> list[FieldError]:
    """What the webhook denies for (with the chart's matchConditions, which skip deletions and spec-less changes)."""
    if update_rules.being_deleted(obj):
        return []
    if operation == "UPDATE":
        return ruleset.ruleset(words=words).validate_update(obj, old).denying
    return ruleset.validate(obj, words)


def _shows_exactly(value: Any) -> bool:
    """CEL can print this bad value as Go does: not a non-empty container, no unusual control characters."""
    if isinstance(value, dict | list):
        return not value
    if isinstance(value, str):
        return all(ch.isprintable() or ch in " \n\t\r" for ch in value)
    return True


def policy_errors(obj: Any, words: wording.Wording, minor: tuple[int, int], old: Any = None,
                  operation: str = "CREATE") -> list[FieldError]:
    """What the policy fails: the webhook's errors, and where a schema error blocked the CEL rules, theirs too."""
    if update_rules.being_deleted(obj):
        return []
    return expected_failures(ruleset.ruleset(words=words), obj, old if operation == "UPDATE" else None)


def check_same(obj: Any, version: str, old: Any = None, operation: str = "CREATE") -> None:
    spec, _, words = SPECS[version]
    same_verdicts(obj, spec, policy_errors(obj, words, wording.parse_version(version), old, operation), old, operation)


def same_verdicts(obj: Any, spec: dict[str, Any], expected: list[FieldError], old: Any = None,
                  operation: str = "CREATE") -> None:
    """The policy ``spec`` fails exactly the fields of ``expected``, in order, with its texts where CEL can print
    the bad value as Go does."""
    outcome = evaluate(obj, spec, old=old, operation=operation)
    got = outcome.failures if outcome.matched else []
    assert [m.split(": ", 1)[0] for m in got] == [e.field for e in expected], (got, [e.text for e in expected])
    for message, error in zip(got, expected, strict=True):
        if _shows_exactly(_at(obj, error.field)):
            assert message == error.text


def decoded(obj: Any) -> Any:
    try:
        return without_nul(apiserver_decoded(obj))
    except Undecodable:
        assume(False)
        raise


# ---------------------------------------------------------------------------------------------------------------
# Verdicts on generated objects


@pytest.mark.property
@pytest.mark.parametrize("version", VERSIONS)
@fuzz(100)
@given(obj=connection_pools())
def test_create_verdicts_match_the_webhook(version: str, obj: dict[str, Any]) -> None:
    check_same(decoded(obj), version)


@pytest.mark.property
@fuzz(150)
@given(obj=json_values(12).filter(lambda v: isinstance(v, dict)))
def test_any_json_object_gets_the_webhooks_verdict(obj: dict[str, Any]) -> None:
    for version in ("1.28", VERSIONS[-1]):
        check_same(decoded(obj), version)


SPEC_FIELDS = {
    "databaseName": mostly(st.one_of(st.just("defaultdb"), sized_text(40))),
    "project": mostly(st.one_of(st.just("my-project"), sized_text(63))),
    "poolMode": mostly(st.sampled_from(connectionpool.POOL_MODES)),
    "poolSize": mostly(st.integers(0, 100)),
    "authSecretRef": mostly(st.fixed_dictionaries({}, optional={"key": sized_text(1), "name": sized_text(1)})),
    "connInfoSecretTarget": mostly(st.fixed_dictionaries({}, optional={"name": names()})),
}


@st.composite
def updates(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """An UPDATE as clients send them: the stored object, and the same object with some of spec changed (or not),
    labels changed, or deletion begun."""
    old = draw(connection_pools())
    new = copy.deepcopy(old)
    if isinstance(new.get("spec"), dict):
        for field in draw(st.lists(st.sampled_from(sorted(SPEC_FIELDS)), max_size=3, unique=True)):
            if draw(st.booleans()):
                new["spec"].pop(field, None)
            else:
                new["spec"][field] = draw(SPEC_FIELDS[field])
    elif draw(st.booleans()):
        new["spec"] = draw(st.fixed_dictionaries({}, optional=SPEC_FIELDS))
    if isinstance(new.get("metadata"), dict):
        if draw(st.booleans()):
            new["metadata"]["labels"] = {"changed": "yes"}
        if draw(st.integers(0, 9)) == 0:
            new["metadata"]["deletionTimestamp"] = "2026-11-26T09:00:00Z"
    return old, new


@pytest.mark.property
@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.28", VERSIONS[-1]])
@fuzz(120)
@given(pair=updates())
def test_update_verdicts_match_the_webhooks_ratcheting(version: str, pair: tuple[Any, Any]) -> None:
    old, new = decoded(pair[0]), decoded(pair[1])
    check_same(new, version, old=old, operation="UPDATE")


@pytest.mark.property
@fuzz(150)
@given(obj=connection_pools(), operation=st.sampled_from(["CREATE", "UPDATE"]))
def test_defaulting_patch_matches_the_webhooks(obj: dict[str, Any], operation: str) -> None:
    obj = decoded(obj)
    _, spec, _ = SPECS[VERSIONS[-1]]
    assert spec is not None
    old = {**obj, "spec": {"changed": True}} if operation == "UPDATE" else None
    got = patch(obj, spec, cel.defaulting_patch(typed=False), old=old, operation=operation)
    expected = [] if update_rules.being_deleted(obj) else list(connectionpool.default(obj).patch)
    assert (got or []) == expected
    if got:
        patched = jsonpatch.JsonPatch(got).apply(copy.deepcopy(obj))
        assert connectionpool.default(patched).patch == ()


def test_exported_patch_is_the_tested_one() -> None:
    for version in VERSIONS:
        _, spec, _ = SPECS[version]
        if spec is not None:
            assert spec["mutations"] == [{"patchType": "JSONPatch",
                                          "jsonPatch": {"expression": cel.defaulting_patch()}}]
            assert cel.defaulting_patch() == cel.defaulting_patch(typed=False).replace(
                "{'op'", "JSONPatch{op").replace("'path':", "path:").replace("'value':", "value:")


# ---------------------------------------------------------------------------------------------------------------
# The cases the README lists, by hand


def messages(obj: dict[str, Any], version: str = VERSIONS[-1], **kwargs: Any) -> list[str]:
    outcome = evaluate(apiserver_decoded(obj), SPECS[version][0], **kwargs)
    return outcome.failures if outcome.matched else []


def test_a_valid_pool_passes_every_version() -> None:
    for version in VERSIONS:
        assert messages(pool(poolMode="session", poolSize=25, authSecretRef={"key": "k", "name": "n"},
                             connInfoSecretTarget={"name": "s"}), version) == []


@pytest.mark.parametrize(("version", "message"), [
    ("1.28", "spec.project: Too long: may not be longer than 63"),
    ("1.31", "spec.project: Too long: may not be longer than 63"),
    ("1.32", "spec.project: Too long: may not be more than 63 bytes"),
    (VERSIONS[-1], "spec.project: Too long: may not be more than 63 bytes"),
])
def test_too_long_in_each_versions_words(version: str, message: str) -> None:
    minor = wording.parse_version(version)
    vap = policy.validating_policy("x", minor, wording.for_version(minor))
    assert evaluate(pool(project="p" * 64), vap["spec"]).failures == [message]
    assert evaluate(pool(project="p" * 63), vap["spec"]).failures == []


def test_lengths_count_code_points() -> None:
    assert messages(pool(databaseName="数" * 40)) == []
    assert messages(pool(databaseName="😀" * 41)) == ["spec.databaseName: Too long: may not be more than 40 bytes"]


def test_null_counts_as_absent() -> None:
    obj = pool()
    obj["spec"].update(poolMode=None, poolSize=None, authSecretRef=None, connInfoSecretTarget=None)
    assert messages(obj) == []
    obj["spec"]["project"] = None
    assert messages(obj) == ["spec.project: Required value"]


def test_empty_strings() -> None:
    assert messages(pool(databaseName="", project="")) == []
    assert messages(pool(authSecretRef={"key": ""})) == [
        'spec.authSecretRef.key: Invalid value: "": spec.authSecretRef.key in body should be at least 1 chars long']
    obj = pool()
    obj["metadata"]["name"] = ""
    assert messages(obj) == ["metadata.name: Required value: name or generateName is required"]


@pytest.mark.parametrize("literal", ["1.0", "1e3", "-0.0", "25.000", "9007199254740991.0"])
def test_whole_floats_are_integers(literal: str) -> None:
    # The apiserver decodes these as doubles (no int literal), and kube-openapi's type check accepts them.
    value = json.loads(literal)
    assert type(value) is float
    for version in VERSIONS:
        assert messages(pool(poolSize=value), version) == []


@pytest.mark.parametrize("literal", ["1.5", "9223372036854775808", "9007199254740992.0", "1e300", "-2.5"])
def test_other_numbers_are_not_integers(literal: str) -> None:
    value = apiserver_decoded(json.loads(literal))
    assert type(value) is float
    for version in VERSIONS:
        assert messages(pool(poolSize=value), version) == [
            'spec.poolSize: Invalid value: "number": spec.poolSize in body must be of type integer: "number"']


@pytest.mark.parametrize(("value", "until_1_34", "from_1_35"), [
    (1.0000000001, True, True),  # within 1e-9 of an integer, above it
    (2.9999999999, False, True),  # below it: truncation says 2, rounding 3
    (-1.0000000001, False, True),  # negative: never near before swag/conv
    (0.9999999999, False, True),
    (1.001, False, False),
])
def test_near_integer_floats_follow_go_openapi(value: float, until_1_34: bool, from_1_35: bool) -> None:
    for version, accepted in (("1.28", until_1_34), ("1.34", until_1_34), ("1.35", from_1_35),
                              (VERSIONS[-1], from_1_35)):
        assert swag_integer(value, wording.parse_version(version)) is accepted
        assert (messages(pool(poolSize=value), version) == []) is accepted, version
        assert (ruleset.validate(pool(poolSize=value), wording.for_version(version)) == []) is accepted


@pytest.mark.parametrize(("value", "found"), [("10", "string"), (True, "boolean"), ([1], "array"), ({}, "object")])
def test_wrong_types(value: Any, found: str) -> None:
    assert messages(pool(poolSize=value)) == [
        f'spec.poolSize: Invalid value: "{found}": spec.poolSize in body must be of type integer: "{found}"']
    if found != "string":
        assert messages(pool(project=value)) == [
            f'spec.project: Invalid value: "{found}": spec.project in body must be of type string: "{found}"']


def test_a_wrong_type_in_an_enum_field_gets_both_causes() -> None:
    assert messages(pool(poolMode=1)) == [
        'spec.poolMode: Invalid value: "integer": spec.poolMode in body must be of type string: "integer"',
        'spec.poolMode: Unsupported value: 1: supported values: "session", "transaction", "statement"',
    ]


@pytest.mark.parametrize(("mode", "shown"), [
    ("bogus", '"bogus"'),
    ('say "hi"\\', '"say \\"hi\\"\\\\"'),
    ("two\nlines\ttab", '"two\\nlines\\ttab"'),
    ("x" * 300, '"' + "x" * 256 + '"...(44 more characters)'),
])
def test_unsupported_values_are_quoted_like_go(mode: str, shown: str) -> None:
    assert messages(pool(poolMode=mode)) == [
        f'spec.poolMode: Unsupported value: {shown}: supported values: "session", "transaction", "statement"']


def test_every_problem_is_a_failing_validation_in_the_webhooks_order() -> None:
    obj = pool(project="p" * 70, poolMode="bogus", poolSize="10")
    del obj["spec"]["username"]
    assert messages(obj) == [e.text for e in ruleset.validate(obj)]
    assert len(messages(obj)) == 4


# ---------------------------------------------------------------------------------------------------------------
# UPDATE and deletion, with requests captured from a real v1.28 apiserver


def _request(name: str) -> dict[str, Any]:
    return dict(reference(name)["body"]["request"])


@pytest.mark.parametrize("name", ["validate-update-metadata-only.json", "validate-update-finalizer-removal.json"])
def test_captured_updates_that_must_never_be_denied_do_not_match(name: str) -> None:
    request = _request(name)
    spec = SPECS["1.28"][0]
    broken = copy.deepcopy(request["object"])
    broken["spec"]["project"] = "p" * 70  # even with an error in it
    old = copy.deepcopy(request["oldObject"])
    old["spec"]["project"] = "p" * 70
    outcome = evaluate(broken, spec, old=old, operation="UPDATE")
    assert not outcome.matched


def test_a_captured_spec_change_is_judged() -> None:
    request = _request("validate-update.json")
    assert request["object"]["spec"] != request["oldObject"]["spec"]
    outcome = evaluate(request["object"], SPECS["1.28"][0], old=request["oldObject"], operation="UPDATE")
    assert outcome.matched and outcome.failures == []


def test_ratcheting() -> None:
    spec = SPECS[VERSIONS[-1]][0]
    old = pool(project="p" * 70)
    # Another field changes: the old error stays, and does not deny.
    assert evaluate(pool(project="p" * 70, poolSize=3), spec, old=old, operation="UPDATE").failures == []
    # The bad field changes to another bad value, or a good field turns bad: denied. (project is an identity field:
    # its change breaks the immutability rule too, which the policy runs where the apiserver's TooLong blocks it.)
    assert evaluate(pool(project="p" * 71), spec, old=old, operation="UPDATE").failures == [
        "spec.project: Too long: may not be more than 63 bytes",
        'spec.project: Invalid value: "string": Value is immutable']
    assert evaluate(pool(project="p" * 70, poolMode="bogus"), spec, old=old, operation="UPDATE").failures == [
        'spec.poolMode: Unsupported value: "bogus": supported values: "session", "transaction", "statement"']
    # Absent in both (an object stored before username became optional): not reported on UPDATE, only on CREATE.
    old = pool()
    del old["spec"]["username"]
    new = copy.deepcopy(old)
    new["spec"]["poolSize"] = 5
    assert evaluate(new, spec, old=old, operation="UPDATE").failures == []
    assert evaluate(new, spec).failures == ["spec.username: Required value"]
    # The same value in another type is another value: 1 and true are not the same poolSize.
    assert evaluate(pool(poolSize=True, poolMode="session"), spec, old=pool(poolSize=1),
                    operation="UPDATE").failures == [
        'spec.poolSize: Invalid value: "boolean": spec.poolSize in body must be of type integer: "boolean"']


def test_objects_being_deleted_are_never_denied_nor_defaulted() -> None:
    obj = pool(project="p" * 70)
    del obj["spec"]["username"]
    obj["metadata"]["deletionTimestamp"] = "2026-11-26T09:00:00Z"
    vap, map_, _ = SPECS[VERSIONS[-1]]
    assert not evaluate(obj, vap).matched
    assert map_ is not None
    assert patch(obj, map_, cel.defaulting_patch(typed=False)) is None


def test_defaulting_like_the_webhook() -> None:
    _, spec, _ = SPECS[VERSIONS[-1]]
    assert spec is not None
    expression = cel.defaulting_patch(typed=False)
    assert patch(pool(), spec, expression) == [
        {"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "my-pool"}}]
    assert patch(pool(connInfoSecretTarget={}), spec, expression) == [
        {"op": "add", "path": "/spec/connInfoSecretTarget/name", "value": "my-pool"}]
    assert patch(pool(connInfoSecretTarget={"name": "mine"}), spec, expression) == []
    unnamed = pool()
    del unnamed["metadata"]["name"]  # generateName: no name yet while mutating admission runs
    assert patch(unnamed, spec, expression) == []


# ---------------------------------------------------------------------------------------------------------------
# Where the CEL runtime here and Kubernetes' differ: the tests check the source instead


def iter_expressions(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, CEL) of every expression in a policy object: what a CEL compiler must accept."""
    spec = obj["spec"]
    for i, cond in enumerate(spec.get("matchConditions", [])):
        yield f"matchConditions[{i}]", cond["expression"]
    for i, var in enumerate(spec.get("variables", [])):
        yield f"variables[{i}]", var["expression"]
    for i, val in enumerate(spec.get("validations", [])):
        yield f"validations[{i}].expression", val["expression"]
        yield f"validations[{i}].messageExpression", val["messageExpression"]
    for i, mutation in enumerate(spec.get("mutations", [])):
        yield f"mutations[{i}]", mutation["jsonPatch"]["expression"]


def all_expressions(version: str) -> list[tuple[str, str]]:
    found = []
    for obj in policy.export(version):
        found.extend((f"{obj['kind']}.{where}", expr) for where, expr in iter_expressions(obj))
    return found


def _code(expression: str) -> str:
    """The expression without its string literals."""
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", expression)


@pytest.mark.parametrize("version", VERSIONS)
def test_expressions_use_only_what_kubernetes_1_27_offers_new_expressions(version: str) -> None:
    # New expressions compile in the previous minor's environment: the standard library and strings v0.
    allowed = {"has", "type", "size", "string", "double", "int", "replace", "substring", "matches"}
    for where, expression in all_expressions(version):
        calls = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", _code(expression)))
        assert calls <= allowed | {"JSONPatch"}, (where, calls - allowed)
        assert "?." not in _code(expression) and ".?" not in _code(expression), where  # optional types


@pytest.mark.parametrize("version", VERSIONS)
def test_no_iteration_so_cost_is_bounded_by_the_object_size(version: str) -> None:
    # No comprehension macros: each expression does a fixed number of operations, the only ones proportional to a
    # value being string comparisons and the quoting of at most 256 characters.
    for where, expression in all_expressions(version):
        assert not re.search(r"\.(all|exists|exists_one|map|filter)\s*\(", _code(expression)), where


@pytest.mark.parametrize("version", VERSIONS)
def test_list_literals_are_homogeneous_and_numbers_compared_in_their_own_type(version: str) -> None:
    for where, expression in all_expressions(version):
        code = _code(expression)
        for literal in re.findall(r"\[([^\[\]]*)\]", code):
            # Strings only, or one JSONPatch.
            assert re.fullmatch(r"(''(, '')*)?|JSONPatch\{[^\[\]]*\}", literal), (where, literal)
        # Comparisons with a number: a double literal (x.y) against doubles, an int literal only against size().
        for left, _op, right in re.findall(r"(\S+)\s*(<=|>=|<|>)\s*(-?[\d.]+)", code):
            assert "." in right or left.startswith("size(") or left.endswith(")"), (where, left, right)


@pytest.mark.parametrize("version", VERSIONS)
def test_reserved_words_are_never_selected_with_a_dot(version: str) -> None:
    for where, expression in all_expressions(version):
        for word in ("namespace", "package", "in", "as", "var"):
            assert not re.search(rf"\.{word}\b", _code(expression)), (where, word)


def test_every_expression_compiles_in_cel() -> None:
    from tests.support.policy_eval import compiled  # noqa: PLC0415

    for version in VERSIONS:
        for _where, expression in all_expressions(version):
            if "JSONPatch{" not in expression:
                compiled(expression)
            else:
                compiled(cel.defaulting_patch(typed=False))


# ---------------------------------------------------------------------------------------------------------------
# The objects (the command that prints them: test_policy_command.py)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("enforcement", ["deny", "warn", "dryrun"])
def test_objects_are_valid_for_their_kubernetes_version(version: str, enforcement: str) -> None:
    for obj in policy.export(version, enforcement):
        # Raises kubernetes_validate.ValidationError (or SchemaNotFoundError) when the object does not fit.
        assert kubernetes_validate.validate(obj, f"{version}.0", strict=True) == version


def test_api_versions_follow_the_kubernetes_version() -> None:
    def kinds(version: str) -> dict[str, str]:
        return {o["kind"]: o["apiVersion"] for o in policy.export(version)}

    v1beta1, v1, v1alpha1 = (f"admissionregistration.k8s.io/{v}" for v in ("v1beta1", "v1", "v1alpha1"))
    assert kinds("1.28") == kinds("1.29") == {"ValidatingAdmissionPolicy": v1beta1,
                                               "ValidatingAdmissionPolicyBinding": v1beta1}
    assert kinds("1.31") == {"ValidatingAdmissionPolicy": v1, "ValidatingAdmissionPolicyBinding": v1}
    for version, mutating in (("1.32", v1alpha1), ("1.33", v1alpha1), ("1.34", v1beta1), ("1.35", v1beta1),
                              ("1.36", v1), (VERSIONS[-1], v1)):
        assert kinds(version)["MutatingAdmissionPolicy"] == kinds(version)["MutatingAdmissionPolicyBinding"] == (
            mutating)


@pytest.mark.parametrize(("enforcement", "action"), [("deny", "Deny"), ("warn", "Warn"), ("dryrun", "Audit")])
def test_enforcement_picks_the_validation_action(enforcement: str, action: str) -> None:
    binding = next(o for o in policy.export(None, enforcement) if o["kind"] == "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["validationActions"] == [action]


# ---------------------------------------------------------------------------------------------------------------
# Fast and deterministic: the webhook's verdicts on chosen values, field by field, with the policy generated inside
# each test (module-level SPECS are made before mutation testing switches a mutant on, so they cannot catch one).

MISSING = object()
# Every kind of value a field can get wrong: absent, null, each JSON type, the float-integer edges of both of
# go-openapi's integer rules, a value Go quotes with escapes, and a number beyond int64 (a double to the apiserver).
VALUES: list[Any] = [MISSING, None, "", "x", 'say "hi"\\\n\t\r', 0, 7, -1, 2**63, 1.0, -0.0, 1.5, 1e300, 2.9999999999,
                     -1.0000000001, 0.9999999999, 1.0000000001, 9007199254740992.0, True, False, [], {}, [1], {"a": 1}]


def _fields(node: Object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Node]]:
    for name, child in node.properties.items():
        yield (*path, name), child
        if isinstance(child, Object):
            yield from _fields(child, (*path, name))


def _with(obj: dict[str, Any], changes: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """A copy of ``obj`` with the values at ``changes``' paths set (or removed, for MISSING)."""
    out = copy.deepcopy(obj)
    for path, value in changes.items():
        parent = out
        for name in path[:-1]:
            parent = parent.setdefault(name, {})
        if value is MISSING:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(value)
    return out


def cases(schema: Object, base: dict[str, Any], skip: tuple[tuple[str, ...], ...] = ()) -> list[dict[str, Any]]:
    """Objects that put each value of VALUES in every leaf at once, in every object of one depth at once, and
    strings at and beyond their limits and enums: every check of ``schema`` fails in some, and passes in others."""
    fields = [(path, node) for path, node in _fields(schema) if path not in skip]
    leaves = [(path, node) for path, node in fields if not isinstance(node, Object)]
    depths = sorted({len(path) for path, node in fields if isinstance(node, Object)})
    out = []
    for value in VALUES:
        out.append(_with(base, {path: value for path, _ in leaves}))
        for depth in depths:
            out.append(_with(base, {path: value for path, node in fields
                                    if isinstance(node, Object) and len(path) == depth}))
    strings = [(path, node) for path, node in leaves if isinstance(node, String)]
    for delta in (-1, 0, 1):
        # Two-byte characters: the limits count characters, not bytes.
        out.append(_with(base, {path: "é" * (node.max_length + delta) for path, node in strings
                                if node.max_length is not None}))
        out.append(_with(base, {path: "é" * max(node.min_length + delta, 0) for path, node in strings
                                if node.min_length is not None}))
    for pick in (0, -1):
        out.append(_with(base, {path: node.enum[pick] for path, node in strings if node.enum}))
        out.append(_with(base, {path: node.enum[pick] + "x" for path, node in strings if node.enum}))
    return [without_nul(apiserver_decoded(obj)) for obj in out]


def one_version_per_wording() -> list[str]:
    """The exported range's versions, one per wording row (the validating policy depends on nothing else)."""
    return list({wording.for_version(version): version for version in VERSIONS}.values())


POOL_CASES = cases(connectionpool.SCHEMA, pool(poolMode="session", poolSize=25, authSecretRef={"key": "k", "name": "n"},
                                               connInfoSecretTarget={"name": "s"}),
                   skip=(("metadata", "deletionTimestamp"),))
# An object being deleted is never denied, whatever else is wrong with it.
POOL_CASES += [_with(POOL_CASES[1], {("metadata", "deletionTimestamp"): value})
               for value in ("2026-11-26T09:00:00Z", 1)]


def test_every_versions_verdicts_match_the_webhook_field_by_field() -> None:
    assert len(one_version_per_wording()) == 4
    for version in one_version_per_wording():
        words = wording.for_version(version)
        spec = policy.validating_policy("x", wording.parse_version(version), words)["spec"]
        for obj in POOL_CASES:
            same_verdicts(obj, spec, webhook_errors(obj, words, wording.parse_version(version)))


def test_updates_are_ratcheted_like_the_webhook_field_by_field() -> None:
    words = wording.LATEST
    spec = policy.validating_spec(words)
    for old, new in itertools.pairwise(POOL_CASES):
        # The next case; the same case with another field changed, where its errors are all old ones.
        pairs = [(old, new)]
        if isinstance(old.get("spec"), dict):
            pairs.append((old, _with(old, {("spec", "poolSize"): 3})))
        for before, after in pairs:
            same_verdicts(after, spec, policy_errors(after, words, policy.NEWEST, before, "UPDATE"), before,
                          "UPDATE")


def test_defaulting_patches_like_the_webhook_field_by_field() -> None:
    spec = policy.mutating_spec()
    expression = cel.defaulting_patch(typed=False)
    assert spec["mutations"][0]["jsonPatch"]["expression"] == cel.defaulting_patch(typed=True)
    for obj in POOL_CASES:
        expected = [] if update_rules.being_deleted(obj) else list(connectionpool.default(obj).patch)
        assert (patch(obj, spec, expression) or []) == expected, obj


# A schema with what ConnectionPool's lacks: booleans, a limit of one (a "byte"), both limits on one string, an enum
# with a limit, names CEL cannot select with a dot, an object without properties, and a required field two objects
# down. The generator is generic; the webhook's own check compiled from the same schema is the reference.
SMALL = Object(properties={
    "flag": Boolean(required=True),
    "count": Integer(),
    "one": String(max_length=1),
    "both": String(min_length=2, max_length=3),
    "choice": String(enum=("a", "bb", "c'\\"), max_length=1),
    "in": String(),
    "my-key": Integer(),
    "outer": Object(properties={
        "namespace": String(required=True, blank_is_missing=True, required_detail="say which"),
        "inner": Object(required=True, properties={"on": Boolean(required=True), "any": Object()}),
    }),
})
SMALL_BASE = {"flag": True, "count": 1, "one": "o", "both": "bo", "choice": "a", "in": "i", "my-key": 2,
              "outer": {"namespace": "n", "inner": {"on": False, "any": {"x": 1}}}}
SMALL_CASES = cases(SMALL, SMALL_BASE)


def small_spec(words: wording.Wording) -> dict[str, Any]:
    found, variables = policy.validations(words, SMALL)
    return {"variables": variables, "validations": found}


@pytest.mark.parametrize("words", wording.ROWS, ids=lambda row: row.version)
def test_a_small_schemas_verdicts_match_its_compiled_check(words: wording.Wording) -> None:
    spec = small_spec(words)
    check = validator.compile(SMALL, words)
    for obj in SMALL_CASES:
        errors: list[FieldError] = []
        check(obj, errors)
        same_verdicts(obj, spec, errors)
    for old, new in itertools.pairwise(SMALL_CASES):
        errors = []
        check(new, errors)
        same_verdicts(new, spec, update_rules.ratchet(errors, new, old).denying, old, "UPDATE")


def fallbacks(spec: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """The static messages of the failing validations: what the apiserver shows when a messageExpression fails."""
    static = [{**v, "messageExpression": cel.lit(v["message"])} for v in spec["validations"]]
    return evaluate(obj, {**spec, "validations": static}).failures


@pytest.mark.parametrize(("version", "too_long", "too_long_3"), [
    ("1.24", "one: Invalid value: (value): one in body should be at most 1 chars long",
     "both: Invalid value: (value): both in body should be at most 3 chars long"),
    ("1.28", "one: Too long: may not be longer than 1", "both: Too long: may not be longer than 3"),
    ("1.32", "one: Too long: may not be more than 1 byte", "both: Too long: may not be more than 3 bytes"),
])
def test_static_messages_name_the_rule_without_the_value(version: str, too_long: str, too_long_3: str) -> None:
    spec = small_spec(wording.for_version(version))
    obj = _with(SMALL_BASE, {("flag",): 1, ("count",): "1", ("one",): "oo", ("both",): "b", ("choice",): "d",
                             ("outer", "namespace"): ""})
    assert fallbacks(spec, obj) == [
        "flag: Invalid value: must be of type boolean",
        "count: Invalid value: must be of type integer",
        too_long,
        "both: Invalid value: (value): both in body should be at least 2 chars long",
        'choice: Unsupported value: supported values: "a", "bb", "c\'\\\\"',
        "outer.namespace: Required value: say which",
    ]
    obj = _with(SMALL_BASE, {("outer", "inner"): MISSING, ("both",): "b" * 4})
    assert fallbacks(spec, obj) == [too_long_3, "outer.inner: Required value"]


# ---------------------------------------------------------------------------------------------------------------
# The pieces: literals, YAML, names


@pytest.mark.parametrize("text", [
    "", "plain text", "X", "it's", "back\\slash", 'double "quotes"', "\x00\x01\n\t\r\x1f", "\x7f\x80\x9f\xa0\xad\xff",
    "\u0100\u0378\u2028\ufffe\uffff", "\U00010000\U000e0001\U0010ffff", "数😀",
])
def test_string_literals_read_back_as_the_same_text(text: str) -> None:
    from tests.support.policy_eval import run  # noqa: PLC0415

    literal = cel.lit(text)
    assert run(literal, {}) == text
    assert all(ch.isprintable() for ch in literal), literal  # nothing a YAML line or a log would mangle


def test_string_literals_escape_what_is_not_printable_by_code_point() -> None:
    assert cel.lit("a'b\\c") == "'a\\'b\\\\c'"
    assert cel.lit("\n\x7f\xad") == "'\\x0a\\x7f\\xad'"
    assert cel.lit("\u0378\uffff") == "'\\u0378\\uffff'"
    assert cel.lit("\U000e0001") == "'\\U000e0001'"


def test_yaml_keeps_long_lines_and_order_and_reads_back_as_the_objects() -> None:
    long = " || ".join(f"has(object.spec.field{i})" for i in range(2000))
    objects = [{"z": {"expression": long, "list": [1, "two", {}], "a": True}}, {"b": []}]
    text = policy.to_yaml(objects)
    assert f"    expression: {long}\n" in text or f"  expression: {long}\n" in text
    assert text.startswith("z:\n") and "\n---\n" in text
    assert list(yaml.safe_load_all(text)) == objects


def test_the_chart_spec_lines_sit_under_spec() -> None:
    assert chart._spec_lines({"b": [{"x": 1}], "a": "y"}) == ["  b:", "  - x: 1", "  a: y"]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_expression_holds_helms_delimiters(version: str) -> None:
    # The chart's template carries the CEL verbatim: Helm would read "{{" as the start of an action.
    for _where, expression in all_expressions(version):
        assert "{{" not in expression
