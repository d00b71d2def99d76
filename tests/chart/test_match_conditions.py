"""Which requests the chart's webhook entries let through to the server: matchConditions, evaluated with Google's CEL
runtime on reviews a v1.28 apiserver sent, and the entries' namespace selectors and failure policies per enforcement
label, rendered by the real Helm engine."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.support.chart_render import render
from tests.support.policy_eval import run as cel
from tests.support.reviews import reference
from webhook.serve import handlers

pytestmark = [pytest.mark.helm]


def cel_request(body: dict[str, Any]) -> dict[str, Any]:
    request = body["request"]
    return {"object": request.get("object"), "oldObject": request.get("oldObject"), "request": request}


def conditions(values: dict[str, Any] | None = None) -> dict[str, list[dict[str, str]]]:
    out = render(values or {})
    return {hook["name"]: hook["matchConditions"] for hook in out.all_webhooks()}


def called(hook_conditions: list[dict[str, str]], body: dict[str, Any]) -> bool:
    """Whether the apiserver calls a webhook with these matchConditions: all must be true."""
    return all(cel(c["expression"], cel_request(body)) is True for c in hook_conditions)


@pytest.mark.parametrize(("name", "expected"), [
    ("mutate-create.json", True),
    ("validate-create-generatename.json", True),
    ("mutate-create-generatename.json", True),
    ("validate-update.json", True),  # changes spec
    ("validate-update-metadata-only.json", False),  # kubectl label
    ("validate-update-finalizer-removal.json", False),  # being deleted
])
def test_match_conditions_skip_what_can_only_be_allowed(name: str, expected: bool) -> None:
    # The chart's own CEL, evaluated with Google's CEL runtime against what a v1.28 apiserver sent.
    body = reference(name)["body"]
    for hook, hook_conditions in conditions().items():
        assert called(hook_conditions, body) is expected, hook


def test_match_conditions_see_a_spec_change_even_when_metadata_changes_too() -> None:
    body = copy.deepcopy(reference("validate-update-metadata-only.json")["body"])
    (hook_conditions, *_) = conditions().values()
    assert not called(hook_conditions, body)
    body["request"]["object"]["spec"]["poolSize"] = 5
    assert called(hook_conditions, body)
    body["request"]["oldObject"].pop("spec")  # an old object without spec: judged
    assert called(hook_conditions, body)


def test_user_match_conditions_come_after_the_built_in_ones() -> None:
    extra = {"name": "only-labelled", "expression": "has(object.metadata.labels)"}
    for hook_conditions in conditions({"webhook": {"matchConditions": [extra]}}).values():
        assert [c["name"] for c in hook_conditions] == [
            "exclude-objects-being-deleted", "exclude-updates-leaving-spec-unchanged", "only-labelled"]


def test_one_validating_entry_per_enforcement_label() -> None:
    out = render({"enforcement": "deny"})
    hooks = out.one("ValidatingWebhookConfiguration")["webhooks"]
    served = handlers.webhooks()
    rows = []
    for hook in hooks:
        path = hook["clientConfig"]["service"]["path"]
        assert path in served
        label = [e for e in hook["namespaceSelector"]["matchExpressions"]
                 if e["key"] == "connectionpool-webhook.io/enforcement"]
        rows.append((hook["name"], path, hook["failurePolicy"], label))
    assert rows == [
        ("vconnectionpool.connectionpool-webhook.io", "/validate", "Fail",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "NotIn", "values": ["deny", "warn", "dryrun"]}]),
        ("deny.vconnectionpool.connectionpool-webhook.io", "/validate/deny", "Fail",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["deny"]}]),
        ("warn.vconnectionpool.connectionpool-webhook.io", "/validate/warn", "Ignore",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["warn"]}]),
        ("dryrun.vconnectionpool.connectionpool-webhook.io", "/validate/dryrun", "Ignore",
         [{"key": "connectionpool-webhook.io/enforcement", "operator": "In", "values": ["dryrun"]}]),
    ]
    (mutating,) = out.one("MutatingWebhookConfiguration")["webhooks"]
    assert mutating["failurePolicy"] == "Ignore"
    assert not [e for e in mutating["namespaceSelector"]["matchExpressions"] if "enforcement" in e["key"]]


@pytest.mark.parametrize(("labels", "expected"), [
    ({}, "vconnectionpool"), ({"connectionpool-webhook.io/enforcement": "warn"}, "warn.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "deny"}, "deny.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "dryrun"}, "dryrun.vconnectionpool"),
    ({"connectionpool-webhook.io/enforcement": "bogus"}, "vconnectionpool"),
])
def test_every_namespace_is_selected_by_exactly_one_validating_entry(labels: dict[str, str], expected: str) -> None:
    # Label selector semantics: In needs the key with a listed value; NotIn also takes namespaces without the key.
    def selects(expression: dict[str, Any]) -> bool:
        value = {**labels, "kubernetes.io/metadata.name": "team-a"}.get(expression["key"])
        if expression["operator"] == "In":
            return value in expression["values"]
        return value not in expression["values"]

    hooks = render({}).one("ValidatingWebhookConfiguration")["webhooks"]
    chosen = [h["name"] for h in hooks if all(selects(e) for e in h["namespaceSelector"]["matchExpressions"])]
    assert chosen == [f"{expected}.connectionpool-webhook.io"]


def test_a_warn_default_fails_open_and_reaches_the_server() -> None:
    out = render({"enforcement": "warn", "kubernetesVersion": "1.28"})
    (default, deny, *_) = out.one("ValidatingWebhookConfiguration")["webhooks"]
    assert (default["failurePolicy"], deny["failurePolicy"]) == ("Ignore", "Fail")
    assert out.env()["WEBHOOK_ENFORCEMENT"] == "warn"
    assert out.env()["WEBHOOK_KUBERNETES_VERSION"] == "1.28"


def test_the_server_words_errors_as_the_clusters_version_by_default() -> None:
    # Helm's .Capabilities.KubeVersion: the offline engine reports its own default version here.
    version = render({}).env()["WEBHOOK_KUBERNETES_VERSION"]
    assert re.fullmatch(r"v1\.\d+\.\d+.*", version)
