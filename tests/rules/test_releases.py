"""The rules of each aiven-operator release (webhook.rules.releases, run by webhook.rules.ruleset): for every listed
release, the cases that tell it apart from its neighbours, with the apiserver's words for each (facts measured on
real apiservers: ../shared/README.md; the CRDs: ../shared/upstream-crds)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.reviews import pool
from webhook.rules import releases, wording
from webhook.rules.releases import RELEASES, Release
from webhook.rules.ruleset import ruleset

V = {str(r): r for r in RELEASES}
UNCHECKED = ("FieldValueInvalid", "<nil>", 'Invalid value: "null": some validation rules were not checked because '
             "the object was invalid; correct the existing errors to complete validation")


def causes(obj: Any, release: Release, version: str | None = "1.33") -> list[tuple[str, str, str]]:
    return [(str(e.type), e.field, e.message) for e in ruleset(release, wording.for_version(version)).validate(obj)]


def update_causes(old: Any, new: Any, release: Release, version: str | None = "1.33") -> list[tuple[str, str, str]]:
    denying = ruleset(release, wording.for_version(version)).validate_update(new, old).denying
    return [(str(e.type), e.field, e.message) for e in denying]


def since(release: str) -> list[Release]:
    return [r for r in RELEASES if r >= V[release]]


def before(release: str) -> list[Release]:
    return [r for r in RELEASES if r < V[release]]


@pytest.mark.parametrize(("text", "chosen"), [
    ("v0.8.0", "v0.8.0"), ("0.8.0", "v0.8.0"), ("v0.8", "v0.8.0"), ("v0.11.3", "v0.9.0"), ("v0.12.0", "v0.12.0"),
    ("v0.19.9", "v0.17.0"), ("0.20", "v0.20.0"), ("v0.37.0", "v0.29.0"), ("v0.38.0", "v0.38.0"),
    ("v0.44.0", "v0.38.0"), ("v1.2.3", "v0.38.0"), ("v0.38.0-rc.1", "v0.38.0"), (" v0.29.0 ", "v0.29.0"),
])
def test_a_release_between_two_listed_ones_takes_the_older_ones_rules(text: str, chosen: str) -> None:
    assert str(releases.parse(text)) == chosen


@pytest.mark.parametrize(("text", "complaint"), [
    ("v0.7.9", "aiven-operator v0.7.9 is older than v0.8.0, the oldest release whose rules are known"),
    ("latest", "not an aiven-operator version: 'latest' (expected e.g. v0.38.0)"),
    ("v0", "not an aiven-operator version: 'v0' (expected e.g. v0.38.0)"),
])
def test_what_is_not_a_release_is_refused_clearly(text: str, complaint: str) -> None:
    with pytest.raises(ValueError) as refused:
        releases.parse(text)
    assert str(refused.value) == complaint


def test_the_default_is_v0_8_0_whose_schema_is_the_api_references() -> None:
    assert V["v0.8.0"] == releases.DEFAULT
    assert releases.schema_of(releases.DEFAULT) is releases.schema_of(V["v0.8.0"])
    from webhook.rules.connectionpool import SCHEMA  # noqa: PLC0415 - the declaration itself, for identity
    assert releases.schema_of(releases.DEFAULT) == SCHEMA


# --- what tells each release apart from its neighbours ------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_username_is_required_until_v0_29_0(release: Release) -> None:
    expected = [("FieldValueRequired", "spec.username", "Required value")] if release < V["v0.29.0"] else []
    if expected and release >= V["v0.17.0"]:  # the CRD has CEL rules: the apiserver says it could not run them
        expected.append(UNCHECKED)
    assert causes(pool(username=None), release, "1.28") == expected
    assert causes(pool(username=""), release) == []  # required means present: "" is a value


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_the_auth_secret_refs_key_and_name_are_required_from_v0_9_0(release: Release) -> None:
    expected = [("FieldValueRequired", "spec.authSecretRef.key", "Required value"),
                ("FieldValueRequired", "spec.authSecretRef.name", "Required value")]
    if release < V["v0.9.0"]:
        expected = []
    elif release >= V["v0.17.0"]:  # the CRD has CEL rules: the apiserver says it could not run them
        expected = [*expected, UNCHECKED]
    assert causes(pool(authSecretRef={}), release) == expected


@pytest.mark.parametrize("release", RELEASES, ids=str)
@pytest.mark.parametrize(("field", "value", "valid"), [
    ("project", "my-project_1", True), ("project", "A", True), ("project", "my proj", False),
    ("project", "", False), ("project", "my.project", False), ("project", "my-project\n", False),
    ("serviceName", "my-pg", True), ("serviceName", "pg2", True), ("serviceName", "My-PG", False),
    ("serviceName", "a", False), ("serviceName", "2pg", False), ("serviceName", "my_pg", False),
    ("serviceName", "pg\n", False),
])
def test_project_and_service_name_match_their_patterns_from_v0_20_0(release: Release, field: str, value: str,
                                                                     valid: bool) -> None:
    pattern = {"project": "^[a-zA-Z0-9_-]+$", "serviceName": "^[a-z][-a-z0-9]+$"}[field]
    expected = []
    if not valid and release >= V["v0.20.0"]:
        shown = value.replace("\n", "\\n")
        expected = [("FieldValueInvalid", f"spec.{field}",
                     f'Invalid value: "{shown}": spec.{field} in body should match \'{pattern}\'')]
    assert causes(pool(**{field: value}), release) == expected


def test_a_value_too_long_for_its_pattern_field_gets_only_the_length_error() -> None:
    # kube-openapi stops at the first string check that fails: maxLength, minLength, pattern.
    assert causes(pool(project="x y" * 30), V["v0.38.0"], "1.33") == [
        ("FieldValueTooLong", "spec.project", "Too long: may not be more than 63 bytes"), UNCHECKED]


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_the_secrets_labels_and_annotations_are_maps_of_strings_from_v0_12_0(release: Release) -> None:
    target = {"name": "x", "labels": {"team": "a", "b": 1, "z": None}, "annotations": {"n": True},
              "prefix": 5}
    expected = []
    if release >= V["v0.12.0"]:
        expected = [
            ("FieldValueTypeInvalid", "spec.connInfoSecretTarget.annotations.n",
             'Invalid value: "boolean": spec.connInfoSecretTarget.annotations.n in body must be of type string: '
             '"boolean"'),
            ("FieldValueTypeInvalid", "spec.connInfoSecretTarget.labels.b",
             'Invalid value: "integer": spec.connInfoSecretTarget.labels.b in body must be of type string: '
             '"integer"'),
            ("FieldValueTypeInvalid", "spec.connInfoSecretTarget.prefix",
             'Invalid value: "integer": spec.connInfoSecretTarget.prefix in body must be of type string: "integer"'),
        ]
        if release >= V["v0.17.0"]:
            expected.append(UNCHECKED)
    assert causes(pool(connInfoSecretTarget=target), release) == expected
    assert causes(pool(connInfoSecretTarget={"name": "x", "labels": "a=b"}), release) == (
        [] if release < V["v0.12.0"] else [
            ("FieldValueTypeInvalid", "spec.connInfoSecretTarget.labels",
             'Invalid value: "string": spec.connInfoSecretTarget.labels in body must be of type object: "string"'),
            *([UNCHECKED] if release >= V["v0.17.0"] else [])])


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_conn_info_secret_target_disabled_is_a_boolean_from_v0_17_0(release: Release) -> None:
    expected = [] if release < V["v0.17.0"] else [
        ("FieldValueTypeInvalid", "spec.connInfoSecretTargetDisabled",
         'Invalid value: "string": spec.connInfoSecretTargetDisabled in body must be of type boolean: "string"'),
        UNCHECKED]
    assert causes(pool(connInfoSecretTargetDisabled="yes"), release) == expected


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_conn_info_secret_target_disabled_can_only_be_set_at_creation_from_v0_17_0(release: Release) -> None:
    set_later = update_causes(pool(), pool(connInfoSecretTargetDisabled=True), release)
    removed = update_causes(pool(connInfoSecretTargetDisabled=True), pool(), release)
    changed = update_causes(pool(connInfoSecretTargetDisabled=True), pool(connInfoSecretTargetDisabled=False),
                            release)
    kept = update_causes(pool(connInfoSecretTargetDisabled=True), pool(connInfoSecretTargetDisabled=True, poolSize=5),
                         release)
    at_creation = causes(pool(connInfoSecretTargetDisabled=True), release)
    if release < V["v0.17.0"]:
        assert set_later == removed == changed == kept == at_creation == []
        return
    only_at_creation = ("FieldValueInvalid", "spec", 'Invalid value: "object": connInfoSecretTargetDisabled can only '
                        "be set during resource creation.")
    assert set_later == [only_at_creation] and removed == [only_at_creation]
    assert changed == [("FieldValueInvalid", "spec.connInfoSecretTargetDisabled",
                        'Invalid value: "boolean": connInfoSecretTargetDisabled is immutable.')]
    assert kept == [] and at_creation == []


def test_a_cluster_that_runs_no_cel_rules_keeps_only_the_identity_rules() -> None:
    # Kubernetes 1.24 and older do not run x-kubernetes-validations (alpha, off): no creation-only rule, no note on
    # rules not run; the identity of a pool still never changes (our rule, on top).
    latest = V["v0.38.0"]
    assert update_causes(pool(), pool(connInfoSecretTargetDisabled=True), latest, "1.24") == []
    assert causes(pool(project=None), latest, "1.24") == [("FieldValueRequired", "spec.project", "Required value")]
    assert update_causes(pool(), pool(project="other"), latest, "1.24") == [
        ("FieldValueInvalid", "spec.project", 'Invalid value: "string": Value is immutable')]


def test_the_unchecked_rules_cause_shows_null_as_json_from_1_34() -> None:
    assert causes(pool(project=None), V["v0.38.0"], "1.33")[-1] == UNCHECKED
    assert causes(pool(project=None), V["v0.38.0"], "1.34")[-1] == (
        "FieldValueInvalid", "<nil>", "Invalid value: null: some validation rules were not checked because the object "
        "was invalid; correct the existing errors to complete validation")
    assert causes(pool(project=None), V["v0.12.0"], "1.33") == [("FieldValueRequired", "spec.project",
                                                                  "Required value")]


# --- identity: the same in every release ---------------------------------------------------------------------------

IMMUTABLE = {
    "project": ("spec.project", "Value is immutable"),
    "serviceName": ("spec.serviceName", "Value is immutable"),
    "databaseName": ("spec.databaseName", "databaseName is immutable"),
    "connInfoSecretTarget": ("spec.connInfoSecretTarget.name", "Value is immutable"),
}


def rule(field: str, message: str, json_type: str = "string") -> tuple[str, str, str]:
    return ("FieldValueInvalid", field, f'Invalid value: "{json_type}": {message}')


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_changing_every_identity_field_at_once_is_worded_as_the_apiserver_does(release: Release) -> None:
    # Measured on 1.28.7 and 1.33.3 with the v0.38.0 CRD: one apply changing all five fields.
    old = pool(connInfoSecretTarget={"name": "orders"})
    new = pool(project="p2", serviceName="s2", databaseName="d2", username="u2", connInfoSecretTarget={"name": "o2"})
    assert update_causes(old, new, release) == [
        rule("spec", "username is immutable", "object"),
        rule("spec.connInfoSecretTarget.name", "Value is immutable"),
        rule("spec.databaseName", "databaseName is immutable"),
        rule("spec.project", "Value is immutable"),
        rule("spec.serviceName", "Value is immutable"),
        rule("spec.username", "username is immutable"),
    ]


@pytest.mark.parametrize("release", RELEASES, ids=str)
@pytest.mark.parametrize("field", ["project", "serviceName", "databaseName"])
def test_an_identity_field_changed_set_or_left_alone(release: Release, field: str) -> None:
    path, message = IMMUTABLE[field]
    assert update_causes(pool(), pool(**{field: "other"}), release) == [rule(path, message)]
    assert update_causes(pool(), pool(poolSize=9), release) == []  # left alone
    # Absent before (a stored object from before the field was required) and set now: a change too.
    old = pool()
    del old["spec"][field]
    assert update_causes(old, pool(), release)[-1] == rule(path, message)


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_the_secret_name_may_be_set_to_its_default_but_not_otherwise(release: Release) -> None:
    path, message = IMMUTABLE["connInfoSecretTarget"]
    assert update_causes(pool(), pool(connInfoSecretTarget={"name": "my-pool"}), release) == []  # the default
    assert update_causes(pool(), pool(connInfoSecretTarget={"name": "elsewhere"}), release) == [rule(path, message)]
    named = pool(connInfoSecretTarget={"name": "orders"})
    assert update_causes(named, pool(connInfoSecretTarget={"name": "orders2"}), release) == [rule(path, message)]
    assert update_causes(named, copy.deepcopy(named), release) == []


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_username_changed_set_unset_and_left_alone(release: Release) -> None:
    spec_rule = rule("spec", "username is immutable", "object")
    field_rule = rule("spec.username", "username is immutable")
    no_username = pool(username=None)
    assert update_causes(pool(), pool(username="other"), release) == [spec_rule, field_rule]
    assert update_causes(no_username, pool(), release) == [spec_rule]  # set where it was absent
    # "" counts as unset for the rule on spec; set in both, the field's own rule sees a change too.
    assert update_causes(pool(username=""), pool(), release) == [spec_rule, field_rule]
    unset = update_causes(pool(), no_username, release)
    if release < V["v0.29.0"]:  # required: the schema's error blocks the rules
        assert unset == [("FieldValueRequired", "spec.username", "Required value"),
                         *([UNCHECKED] if release >= V["v0.17.0"] else [])]
    else:
        assert unset == [spec_rule]
    assert update_causes(pool(), pool(poolMode="session"), release) == []
    assert update_causes(pool(username=""), pool(username=None, poolMode="session"), release) == (
        [] if release >= V["v0.29.0"] else [("FieldValueRequired", "spec.username", "Required value"),
                                             *([UNCHECKED] if release >= V["v0.17.0"] else [])])


def test_the_rules_run_only_on_update_and_only_where_the_schema_is_met() -> None:
    latest = V["v0.38.0"]
    # A CREATE runs no rule that compares with the stored object.
    assert causes(pool(connInfoSecretTargetDisabled=True), latest) == []
    # A blocking schema error on UPDATE: the rules are not run, and the apiserver says so.
    assert update_causes(pool(), pool(project="other", poolMode="bogus"), latest) == [
        ("FieldValueNotSupported", "spec.poolMode",
         'Unsupported value: "bogus": supported values: "session", "transaction", "statement"'), UNCHECKED]
    # A non-blocking one (a pattern) lets them run.
    assert update_causes(pool(), pool(project="other one"), latest) == [
        ("FieldValueInvalid", "spec.project", "Invalid value: \"other one\": spec.project in body should match "
         "'^[a-zA-Z0-9_-]+$'"), rule("spec.project", "Value is immutable")]
    # A bad field the update left alone is ratcheted and blocks nothing.
    assert update_causes(pool(poolMode="bogus"), pool(poolMode="bogus", project="other"), latest) == [
        rule("spec.project", "Value is immutable")]
