"""The chart's README lists every value of values.yaml, once, with its current default.

A value is a leaf of values.yaml, except that objects the schema leaves open (a security context, a node selector,
requests) are one value: a user sets them whole, as Kubernetes objects.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import yaml

from tests.support.chart_render import CHART
from webhook.tools.reference import block

README = CHART / "README.md"
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| `(?P<default>[^`]*)` \| (?P<what>.*\S) \|$")


def values_of(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, default) of every value: objects with declared properties are walked, open ones are values."""
    for key, value in values.items():
        node = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and value and node.get("additionalProperties") is False:
            yield from values_of(value, node, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def chart_values() -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    return dict(values_of(values, schema))


def readme_rows() -> list[dict[str, str]]:
    lines = block(README.read_text(), "values-table").splitlines()
    table = [line for line in lines if line.startswith("| `")]
    rows = [ROW.match(line) for line in table]
    assert all(rows), [line for line, row in zip(table, rows, strict=True) if not row]
    return [row.groupdict() for row in rows if row]


def test_every_value_is_listed_once() -> None:
    keys = [row["key"] for row in readme_rows()]
    assert [key for key, n in Counter(keys).items() if n > 1] == []
    values = chart_values()
    assert sorted(set(values) - set(keys)) == [], "values missing from the chart README"
    assert sorted(set(keys) - set(values)) == [], "the chart README lists values that do not exist"


def test_defaults_are_current() -> None:
    values = chart_values()
    for row in readme_rows():
        assert yaml.safe_load(row["default"]) == values[row["key"]], row


def test_the_walk_reaches_nested_values_and_stops_at_open_objects() -> None:
    values = chart_values()
    assert values["autoscaling.minReplicas"] == 2 and values["clusterChecks.timeoutSeconds"] == 1
    assert values["webhook.mutating.reinvocationPolicy"] == "Never"
    assert values["resources.requests"] == {"cpu": "50m", "memory": "96Mi"}
    assert "podSecurityContext" in values and not [key for key in values if key.startswith("podSecurityContext.")]
    assert values["autoscaling.behavior"] == {} and values["podDisruptionBudget.maxUnavailable"] is None
