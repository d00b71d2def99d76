"""The integrity rules on their own (webhook.rules.integrity): a pool's identity and Secrets read from an object, the
index of the other pools, and the causes each conflict gets, naming the other object."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.reviews import pool as valid_pool
from webhook.rules import integrity
from webhook.rules.integrity import Index, Pool, pool_of, secret_of


def obj(name: str = "orders", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    made = valid_pool(**spec)
    made["metadata"] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                        "creationTimestamp": "2026-12-01T10:00:00Z"}
    return made


def a_pool(name: str = "orders", namespace: str = "team-a", **spec: Any) -> Pool:
    found = pool_of(obj(name, namespace, **spec))
    assert found is not None
    return found


def test_a_pool_is_read_from_its_object() -> None:
    pool = a_pool(authSecretRef={"name": "aiven-token", "key": "token"})
    assert pool == Pool("team-a", "orders", "my-project", "my-pg", "orders", "uid-team-a-orders",
                        "2026-12-01T10:00:00Z", "aiven-token")
    assert pool.identity == ("my-project", "my-pg", "orders") and pool.key == ("team-a", "orders")


@pytest.mark.parametrize(("spec", "secret"), [
    ({}, "orders"),  # the default: the resource's name
    ({"connInfoSecretTarget": {"name": "orders-conn"}}, "orders-conn"),
    ({"connInfoSecretTarget": {"name": ""}}, "orders"),  # "" is no name: the operator uses the default
    ({"connInfoSecretTargetDisabled": True, "connInfoSecretTarget": {"name": "x"}}, None),  # no Secret written
    ({"connInfoSecretTargetDisabled": False}, "orders"),
])
def test_the_secret_a_pool_writes(spec: dict[str, Any], secret: str | None) -> None:
    assert a_pool(**spec).secret == secret


@pytest.mark.parametrize("broken", [
    None, [], {"metadata": {"name": "x"}}, {"metadata": {}, "spec": {"project": "p", "serviceName": "s"}},
    {"metadata": {"name": "x"}, "spec": {"project": 1, "serviceName": "s"}},
    {"metadata": {"name": "x"}, "spec": {"project": "p", "serviceName": ""}},
    {"metadata": "x", "spec": {"project": "p", "serviceName": "s"}},
])
def test_an_object_without_a_readable_identity_has_no_pool(broken: Any) -> None:
    assert pool_of(broken) is None


def test_the_requests_namespace_stands_in_for_an_absent_one() -> None:
    made = obj()
    del made["metadata"]["namespace"]
    assert pool_of(made, "from-request") == a_pool()._replace(namespace="from-request")


def test_the_index_finds_pools_by_identity_and_by_secret_and_forgets_them() -> None:
    index = Index()
    a, b = a_pool(namespace="team-a"), a_pool(namespace="team-b")
    c = a_pool(name="reports", namespace="team-a", connInfoSecretTarget={"name": "orders"})
    for pool in (a, b, c):
        index.put(pool)
    assert len(index) == 3
    assert sorted(index.with_identity(a.identity)) == sorted([a, b])
    assert sorted(index.writing("team-a", "orders")) == sorted([a, c])
    assert list(index.writing("team-b", "orders")) == [b]
    # A pool that changes is found under its new identity and Secret only.
    moved = c._replace(project="other", secret="reports")
    index.put(moved)
    assert list(index.writing("team-a", "orders")) == [a]
    assert list(index.with_identity(moved.identity)) == [moved]
    index.remove(a.key)
    index.remove(("nowhere", "nothing"))
    assert list(index.with_identity(a.identity)) == [b] and list(index.writing("team-a", "orders")) == []
    assert len(index) == 2


def causes(pool: Pool, index: Index) -> list[tuple[str, str, str]]:
    return [(str(e.type), e.field, e.message) for e in integrity.conflicts(pool, index)]


def test_the_same_aiven_pool_in_another_namespace_is_a_duplicate_naming_it() -> None:
    index = Index()
    index.put(a_pool(namespace="team-a"))
    assert causes(a_pool(namespace="team-b"), index) == [(
        "FieldValueDuplicate", "metadata.name",
        'Duplicate value: "orders": ConnectionPool team-a/orders already manages the Aiven connection pool "orders" '
        'of project "my-project", service "my-pg"; deleting either would delete it under the other')]


def test_the_same_secret_in_one_namespace_is_a_duplicate_naming_its_writer() -> None:
    index = Index()
    index.put(a_pool())
    reports = a_pool(name="reports", serviceName="other-pg", connInfoSecretTarget={"name": "orders"})
    assert causes(reports, index) == [(
        "FieldValueDuplicate", "spec.connInfoSecretTarget.name",
        'Duplicate value: "orders": ConnectionPool team-a/orders already writes the Secret team-a/orders; the '
        "operator would fail to reconcile this one")]


@pytest.mark.parametrize("other", [
    {"name": "orders", "namespace": "team-a"},  # the object itself (an UPDATE, a repeated CREATE)
    {"name": "orders", "namespace": "team-b", "serviceName": "other-pg"},  # another service: another pool
    {"name": "orders", "namespace": "team-b", "project": "other-project"},
    {"name": "other", "namespace": "team-a"},  # another name: another pool, another default Secret
    {"name": "orders", "namespace": "team-b", "connInfoSecretTargetDisabled": True, "serviceName": "x"},
])
def test_what_is_not_a_conflict(other: dict[str, Any]) -> None:
    index = Index()
    index.put(a_pool(**other))
    assert causes(a_pool(), index) == []


def test_a_pool_that_writes_no_secret_cannot_clash_on_one() -> None:
    index = Index()
    index.put(a_pool(name="orders"))
    assert causes(a_pool(name="x", connInfoSecretTargetDisabled=True, connInfoSecretTarget={"name": "orders"}),
                  index) == []


def test_several_conflicts_are_all_named_in_a_stable_order() -> None:
    index = Index()
    for namespace in ("team-c", "team-b"):
        index.put(a_pool(namespace=namespace))
    index.put(a_pool(name="z", connInfoSecretTarget={"name": "orders"}, serviceName="zz"))
    found = causes(a_pool(), index)
    assert [f for _, f, _ in found] == ["metadata.name", "metadata.name", "spec.connInfoSecretTarget.name"]
    assert "team-b/orders" in found[0][2] and "team-c/orders" in found[1][2] and "team-a/z" in found[2][2]


def test_a_pool_being_deleted_still_claims_its_identity_and_says_so() -> None:
    index = Index()
    deleting = obj(namespace="team-b")
    deleting["metadata"]["deletionTimestamp"] = "2026-12-01T11:00:00Z"
    found = pool_of(deleting)
    assert found is not None and found.deleting
    index.put(found)
    assert "ConnectionPool team-b/orders (being deleted) already manages" in causes(a_pool(), index)[0][2]


def owner(api_version: str, kind: str, name: str, controller: bool | None = True) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "name": name, "uid": "u1"}
    if controller is not None:
        ref["controller"] = controller
    return ref


NO_CONTROLLER = ("Forbidden: Secret team-a/orders already exists and has no controller; the operator would write "
                 "this pool's keys into it")


@pytest.mark.parametrize(("owners", "message"), [
    (None, NO_CONTROLLER),
    ([owner("v1", "ConfigMap", "x", controller=None)], NO_CONTROLLER),
    ([owner("apps/v1", "Deployment", "app")], "Forbidden: Secret team-a/orders already exists and is controlled by "
                                               "Deployment team-a/app; the operator would write this pool's keys "
                                               "into it"),
    ([owner("aiven.io/v1alpha1", "ConnectionPool", "reports")],
     "Forbidden: Secret team-a/orders already exists and is controlled by ConnectionPool team-a/reports; the "
     "operator would write this pool's keys into it"),
    ([owner("aiven.io/v1alpha1", "PostgreSQL", "orders")],
     "Forbidden: Secret team-a/orders already exists and is controlled by PostgreSQL team-a/orders; the operator "
     "would write this pool's keys into it"),
    ([owner("other.io/v1", "ConnectionPool", "orders")],
     "Forbidden: Secret team-a/orders already exists and is controlled by ConnectionPool team-a/orders; the "
     "operator would write this pool's keys into it"),  # another group's kind of the same name is not ours
])
def test_a_secret_not_controlled_by_the_pool_is_forbidden(owners: list[dict[str, Any]] | None, message: str) -> None:
    metadata: dict[str, Any] = {"name": "orders", "namespace": "team-a"}
    if owners is not None:
        metadata["ownerReferences"] = owners
    found = integrity.foreign_secret(a_pool(), secret_of(metadata, "team-a", "orders"))
    assert found is not None
    assert (str(found.type), found.field, found.message) == ("FieldValueForbidden", "spec.connInfoSecretTarget.name",
                                                             message)


@pytest.mark.parametrize("owners", [
    [owner("aiven.io/v1alpha1", "ConnectionPool", "orders")],
    [owner("aiven.io/v1beta1", "ConnectionPool", "orders")],  # the group decides, not the version
    # another uid: controller-runtime's SetControllerReference compares group, kind and name only
    [{**owner("aiven.io/v1alpha1", "ConnectionPool", "orders"), "uid": "another"}],
    [owner("v1", "ConfigMap", "x", controller=False), owner("aiven.io/v1alpha1", "ConnectionPool", "orders")],
])
def test_the_pools_own_secret_is_no_conflict(owners: list[dict[str, Any]]) -> None:
    secret = secret_of({"ownerReferences": owners}, "team-a", "orders")
    assert integrity.foreign_secret(a_pool(), secret) is None


def test_no_secret_and_no_secret_written_are_no_conflict() -> None:
    assert integrity.foreign_secret(a_pool(), None) is None
    disabled = a_pool(connInfoSecretTargetDisabled=True)
    assert integrity.foreign_secret(disabled, secret_of({}, "team-a", "orders")) is None


def test_the_warning_for_a_missing_auth_secret() -> None:
    pool = a_pool(authSecretRef={"name": "aiven-token", "key": "token"})
    assert integrity.missing_auth_secret(pool) == ("spec.authSecretRef.name: Secret team-a/aiven-token not found; the "
                                                   "operator cannot reconcile this ConnectionPool until it exists")


def test_a_secret_controlled_by_the_pool_that_writes_it_is_reported_once() -> None:
    """Rule 2 names the other ConnectionPool that writes the Secret; rule 3 does not name it a second time. A Secret
    controlled by a ConnectionPool the view does not know to write it (gone, or writing another) is still forbidden."""
    writer = integrity.pool_of({"metadata": {"name": "orders", "namespace": "team-a"},
                                "spec": {"project": "shop", "serviceName": "pg"}})
    assert writer is not None
    reports = a_pool()._replace(name="reports", secret="orders", service="pg-2")
    secret = secret_of({"ownerReferences": [owner("aiven.io/v1alpha1", "ConnectionPool", "orders")]}, "team-a",
                       "orders")
    index = integrity.Index()
    assert integrity.foreign_secret(reports, secret, index) is not None
    index.put(writer)
    assert [e.type for e in integrity.conflicts(reports, index)] == [integrity.ErrorType.DUPLICATE]
    assert integrity.foreign_secret(reports, secret, index) is None
    index.put(writer._replace(secret="elsewhere"))
    assert integrity.foreign_secret(reports, secret, index) is not None
