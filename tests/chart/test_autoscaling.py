"""The chart's HorizontalPodAutoscaler and its PodDisruptionBudget, kept consistent: the budget is checked against the
replica floor (autoscaling.minReplicas with autoscaling, replicaCount without), and one that would allow no eviction
there stops the install with a message instead of hanging every node drain later.

Rendered by the real Helm engine and checked against Kubernetes' schemas; what the budget allows is worked out here
with Kubernetes' own rounding (a percentage rounds up), independently of the template's arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.support.chart_render import NAMESPACE, RELEASE, lint_findings, render, validate_values

pytestmark = [pytest.mark.helm]

FULLNAME = f"{RELEASE}-connectionpool-webhook"
ON: dict[str, Any] = {"autoscaling": {"enabled": True}}
BUDGETS: list[dict[str, Any]] = [
    {"minAvailable": 0}, {"minAvailable": 1}, {"minAvailable": 2}, {"minAvailable": "50%"}, {"minAvailable": "67%"},
    {"minAvailable": "100%"}, {"maxUnavailable": 0}, {"maxUnavailable": 1}, {"maxUnavailable": "0%"},
    {"maxUnavailable": "1%"}, {"maxUnavailable": "50%"},
]


def pods(value: int | str, replicas: int) -> int:
    """An IntOrString of a PodDisruptionBudget as pods out of ``replicas``: Kubernetes rounds percentages up."""
    if isinstance(value, str):
        return math.ceil(replicas * int(value.rstrip("%")) / 100)
    return value


def evictable_at(budget: dict[str, Any], floor: int) -> int:
    """How many pods the budget lets a drain evict when the Deployment runs at its floor, all of them healthy."""
    if "maxUnavailable" in budget:
        return min(pods(budget["maxUnavailable"], floor), floor)
    return max(floor - pods(budget["minAvailable"], floor), 0)


def test_off_by_default() -> None:
    out = render()
    assert not out.of_kind("HorizontalPodAutoscaler")
    assert out.one("Deployment")["spec"]["replicas"] == 2


def test_on_the_autoscaler_owns_the_replica_count() -> None:
    out = render({"replicaCount": 7, **ON})
    deployment = out.one("Deployment")
    assert "replicas" not in deployment["spec"], "Helm would reset the count the autoscaler set on every upgrade"
    hpa = out.one("HorizontalPodAutoscaler", FULLNAME)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["namespace"] == NAMESPACE
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": deployment["apiVersion"], "kind": "Deployment",
                           "name": deployment["metadata"]["name"]},
        "minReplicas": 2,
        "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                "averageUtilization": 80}}}],
    }
    # Utilisation means something: the CPU it is a percentage of is requested by default.
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"] == "50m"
    # The budget is the floor's (minReplicas 2), whatever replicaCount says.
    assert out.one("PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_memory_target_and_behavior() -> None:
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 600, "policies": [{"type": "Pods", "value": 1,
                                                                                "periodSeconds": 120}]},
                "scaleUp": {"selectPolicy": "Max"}}
    out = render({"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12,
                                  "targetCPUUtilizationPercentage": 60, "targetMemoryUtilizationPercentage": 90,
                                  "behavior": behavior}})
    spec = out.one("HorizontalPodAutoscaler")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 12)
    assert [(m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in spec["metrics"]] == [
        ("cpu", 60), ("memory", 90)]
    assert spec["behavior"] == behavior
    memory_only = render({"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None,
                                          "targetMemoryUtilizationPercentage": 75}})
    (metric,) = memory_only.one("HorizontalPodAutoscaler")["spec"]["metrics"]
    assert metric["resource"] == {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 75}}
    assert "behavior" not in render(ON).one("HorizontalPodAutoscaler")["spec"]


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: "-".join(f"{k}={v}" for k, v in b.items()))
@pytest.mark.parametrize("floor", [1, 2, 3])
@pytest.mark.parametrize("autoscaling", [False, True], ids=["replicaCount", "autoscaling"])
def test_budget_against_the_replica_floor(autoscaling: bool, floor: int, budget: dict[str, Any]) -> None:
    """Every combination: no budget on one replica; a budget that allows an eviction at the floor is rendered as
    given; one that allows none fails, naming the value and the floor."""
    values: dict[str, Any] = {"podDisruptionBudget": {**budget}}
    if autoscaling:
        # replicaCount says otherwise on purpose: with autoscaling, minReplicas is the floor.
        values |= {"replicaCount": 5, "autoscaling": {"enabled": True, "minReplicas": floor,
                                                      "maxReplicas": floor + 2}}
    else:
        values |= {"replicaCount": floor}
    if floor == 1:
        assert not render(values).of_kind("PodDisruptionBudget")
        return
    if evictable_at(budget, floor) >= 1:
        out = render(values)
        spec = out.one("PodDisruptionBudget")["spec"]
        assert {k: v for k, v in spec.items() if k in ("minAvailable", "maxUnavailable")} == budget
        assert spec["selector"] == out.one("Deployment")["spec"]["selector"]
        return
    with pytest.raises(helm.HelmRenderError) as exc:
        render(values)
    (key, value), = budget.items()
    message = str(exc.value)
    assert f"podDisruptionBudget.{key} ({value}" in message
    assert "allows no pod to be evicted" in message if key == "maxUnavailable" else (
        f"must be below {'autoscaling.minReplicas' if autoscaling else 'replicaCount'} ({floor})" in message)


def test_the_budget_arithmetic_can_fail() -> None:
    """``evictable_at`` is the oracle above: it must disagree with a wrong reading of the budget."""
    assert evictable_at({"minAvailable": "50%"}, 3) == 1  # 1.5 rounds up to 2 kept: one may go
    assert evictable_at({"minAvailable": "34%"}, 3) == 1
    assert evictable_at({"minAvailable": "67%"}, 3) == 0  # 2.01 rounds up to 3: none may go
    assert evictable_at({"maxUnavailable": "1%"}, 2) == 1
    assert evictable_at({"maxUnavailable": "0%"}, 2) == 0


def test_disabled_budget_is_not_checked() -> None:
    assert not render({"podDisruptionBudget": {"enabled": False, "minAvailable": 5}}).of_kind("PodDisruptionBudget")


@pytest.mark.parametrize(("values", "message"), [
    ({"autoscaling": {"enabled": True, "minReplicas": 4, "maxReplicas": 3}},
     "autoscaling.maxReplicas (3) must be at least autoscaling.minReplicas (4)"),
    ({"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None}}, "autoscaling needs a target"),
    ({"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}},
     "autoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu"),
    ({"autoscaling": {"enabled": True, "targetMemoryUtilizationPercentage": 80}, "resources": {"requests": None}},
     "needs resources.requests"),
    ({"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": None,
                      "targetMemoryUtilizationPercentage": 80}, "resources": {"requests": {"memory": None}}},
     "autoscaling.targetMemoryUtilizationPercentage needs resources.requests.memory"),
])
def test_contradictory_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as exc:
        render(values)
    assert message in str(exc.value)


@pytest.mark.parametrize("values", [{"mode": "policy", **ON}, {"webhook": {"url": "https://dev.example.com"}, **ON}],
                         ids=["policy-mode", "url"])
def test_no_autoscaler_without_a_server_in_the_cluster(values: dict[str, Any]) -> None:
    assert not render(values).of_kind("HorizontalPodAutoscaler")


@pytest.mark.parametrize("kube_version", ["1.28", "1.30", kubernetes_validate.utils.latest_version()])
def test_matches_kubernetes_schemas(kube_version: str) -> None:
    values = {"autoscaling": {"enabled": True, "minReplicas": 3, "targetMemoryUtilizationPercentage": 90,
                              "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}}},
              "podDisruptionBudget": {"minAvailable": "50%"}}
    out = render(values)
    for kind in ("HorizontalPodAutoscaler", "Deployment", "PodDisruptionBudget"):
        kubernetes_validate.validate(out.one(kind), kube_version, strict=True)
    wrong = out.one("HorizontalPodAutoscaler")
    wrong["spec"]["metrics"][0]["resource"]["target"]["averageUtilisation"] = 80  # the British spelling: unknown
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, kube_version, strict=True)


@pytest.mark.parametrize("values", [ON, {"autoscaling": {"enabled": True, "minReplicas": 1,
                                                         "targetMemoryUtilizationPercentage": 90}}])
def test_lint_strict(values: dict[str, Any]) -> None:
    assert lint_findings(values) == []
    validate_values(values)


@pytest.mark.parametrize(("values", "where"), [
    ({"autoscaling": {"minReplicas": 0}}, "/autoscaling/minReplicas"),
    ({"autoscaling": {"maxReplicas": 101}}, "/autoscaling/maxReplicas"),
    ({"autoscaling": {"maxReplicas": "5"}}, "/autoscaling/maxReplicas"),
    ({"autoscaling": {"targetCPUUtilizationPercentage": 0}}, "/autoscaling/targetCPUUtilizationPercentage"),
    ({"autoscaling": {"targetCPUUtilizationPercentage": 150}}, "/autoscaling/targetCPUUtilizationPercentage"),
    ({"autoscaling": {"targetCPUUtilizationPercentage": "80%"}}, "/autoscaling/targetCPUUtilizationPercentage"),
    ({"autoscaling": {"targetMemoryUtilizationPercentage": 0}}, "/autoscaling/targetMemoryUtilizationPercentage"),
    ({"autoscaling": {"behavior": {"scaleUp": "fast"}}}, "/autoscaling/behavior/scaleUp"),
    ({"autoscaling": {"behavior": {"scaleDownDelay": 60}}}, "scaleDownDelay"),
    ({"autoscaling": {"enabled": "true"}}, "/autoscaling/enabled"),
    ({"autoscaling": {"minReplica": 2}}, "minReplica"),
])
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as exc:
        validate_values(values)
    assert where in str(exc.value)
