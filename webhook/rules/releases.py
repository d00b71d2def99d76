"""The rules of each aiven-operator release: what its ConnectionPool CRD changed, as data beside ``SCHEMA``.

``connectionpool.SCHEMA`` is the CRD of v0.8.0, the API reference the rules started from, and stays the default so
that no verdict changes on upgrade. Each later release in which the CRD's ``spec`` schema changed is a row of
:data:`CHANGES`: the field, what changed, and where it came from (like the wording table). The schema of a release
is ``SCHEMA`` with every change up to it applied; a release between two listed ones has the older one's rules.

The identity of a pool (see :mod:`webhook.rules.integrity`) never changes, whatever the release: the identity
fields' immutability rules of the newest release apply on top of every release's own (:func:`rules_schema`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import NamedTuple

from webhook.rules.connectionpool import SCHEMA
from webhook.rules.schema import (
    Boolean,
    CreationOnly,
    Immutable,
    ImmutableOnceSet,
    Map,
    Node,
    Object,
    Rule,
    String,
)


class Release(NamedTuple):
    """An aiven-operator release, ``v0.20.0``."""

    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


def release(text: str) -> Release:
    major, minor, patch = (int(part) for part in text.lstrip("v").split("."))
    return Release(major, minor, patch)


# Each edit is one kind of change to one node of the schema.
@dataclass(frozen=True, slots=True)
class Added:
    node: Node

    def apply(self, node: Node | None) -> Node:
        return self.node

    def describe(self) -> str:
        kind = {String: "a string", Boolean: "a boolean", Map: "a map of strings"}.get(type(self.node), "an object")
        return f"added: {kind}"


@dataclass(frozen=True, slots=True)
class Required:
    required: bool

    def apply(self, node: Node | None) -> Node:
        assert node is not None
        return replace(node, required=self.required)

    def describe(self) -> str:
        return "required" if self.required else "no longer required"


@dataclass(frozen=True, slots=True)
class Pattern:
    pattern: str

    def apply(self, node: Node | None) -> Node:
        assert isinstance(node, String)
        return replace(node, pattern=self.pattern)

    def describe(self) -> str:
        return f"must match `{self.pattern}`"


@dataclass(frozen=True, slots=True)
class RuleAdded:
    rule: Rule
    first: bool = False  # listed before the node's other rules, as the CRD lists it

    def apply(self, node: Node | None) -> Node:
        assert node is not None
        rules = (self.rule, *node.rules) if self.first else (*node.rules, self.rule)
        return replace(node, rules=rules)

    def describe(self) -> str:
        return f"CEL rule `{self.rule.rule}`: {self.rule.message}"


Edit = Added | Required | Pattern | RuleAdded


@dataclass(frozen=True, slots=True)
class Change:
    """One row of the table: from ``release`` on, ``field`` changed as ``edit`` says."""

    release: Release
    field: str
    edit: Edit
    source: str

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


def _crd(version: str, commit: str) -> str:
    return f"aiven-operator {version} ({commit}), config/crd/bases/aiven.io_connectionpools.yaml"


V0_8_0, V0_9_0, V0_12_0, V0_17_0 = release("v0.8.0"), release("v0.9.0"), release("v0.12.0"), release("v0.17.0")
V0_20_0, V0_29_0, V0_38_0 = release("v0.20.0"), release("v0.29.0"), release("v0.38.0")
# Every release in which the spec schema changed, oldest first; v0.38.0's is unchanged through v0.44.0.
RELEASES: tuple[Release, ...] = (V0_8_0, V0_9_0, V0_12_0, V0_17_0, V0_20_0, V0_29_0, V0_38_0)
DEFAULT = V0_8_0
NEWEST = RELEASES[-1]

_SOURCES = {
    V0_9_0: _crd("v0.9.0", "0ed15ede"),
    V0_12_0: _crd("v0.12.0", "2b46bb20"),
    V0_17_0: _crd("v0.17.0", "7bc29a00"),
    V0_20_0: _crd("v0.20.0", "c1c1ca98"),
    V0_29_0: _crd("v0.29.0", "84f44a57"),
    V0_38_0: _crd("v0.38.0", "483d4eca"),
}
IMMUTABLE = "Value is immutable"
DISABLED_IMMUTABLE = "connInfoSecretTargetDisabled is immutable."
DISABLED_AT_CREATION = "connInfoSecretTargetDisabled can only be set during resource creation."
DATABASE_IMMUTABLE = "databaseName is immutable"
USERNAME_IMMUTABLE = "username is immutable"


def _row(version: Release, field: str, edit: Edit) -> Change:
    return Change(version, field, edit, _SOURCES[version])


CHANGES: tuple[Change, ...] = (
    _row(V0_9_0, "spec.authSecretRef.key", Required(True)),
    _row(V0_9_0, "spec.authSecretRef.name", Required(True)),
    _row(V0_12_0, "spec.connInfoSecretTarget.annotations", Added(Map(
        values=String(), preserve_unknown_fields=True, description="Annotations of the Secret."))),
    _row(V0_12_0, "spec.connInfoSecretTarget.labels", Added(Map(
        values=String(), preserve_unknown_fields=True, description="Labels of the Secret."))),
    _row(V0_12_0, "spec.connInfoSecretTarget.prefix", Added(String(
        description="Prefix of the Secret's keys (by default the kind in upper case and an underscore)."))),
    _row(V0_17_0, "spec.connInfoSecretTargetDisabled", Added(Boolean(
        description="When true, no connection Secret is written; it can only be set at creation."))),
    _row(V0_17_0, "spec.connInfoSecretTargetDisabled", RuleAdded(Immutable(DISABLED_IMMUTABLE))),
    _row(V0_17_0, "spec", RuleAdded(CreationOnly("connInfoSecretTargetDisabled", DISABLED_AT_CREATION))),
    _row(V0_20_0, "spec.project", Pattern("^[a-zA-Z0-9_-]+$")),
    _row(V0_20_0, "spec.serviceName", Pattern("^[a-z][-a-z0-9]+$")),
    _row(V0_20_0, "spec.project", RuleAdded(Immutable(IMMUTABLE))),
    _row(V0_20_0, "spec.serviceName", RuleAdded(Immutable(IMMUTABLE))),
    _row(V0_20_0, "spec.connInfoSecretTarget.name", RuleAdded(Immutable(IMMUTABLE))),
    _row(V0_29_0, "spec.username", Required(False)),
    _row(V0_38_0, "spec.databaseName", RuleAdded(Immutable(DATABASE_IMMUTABLE))),
    _row(V0_38_0, "spec.username", RuleAdded(Immutable(USERNAME_IMMUTABLE))),
    _row(V0_38_0, "spec", RuleAdded(ImmutableOnceSet("username", USERNAME_IMMUTABLE), first=True)),
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")


def parse(text: str) -> Release:
    """The release whose rules apply to aiven-operator ``text`` (``v0.25.1``, ``0.38``, ``v0.44.0-rc1``): the newest
    listed release that is not newer; a release before v0.8.0 is refused."""
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(f"not an aiven-operator version: {text!r} (expected e.g. v0.38.0)")
    asked = Release(int(match[1]), int(match[2]), int(match[3] or 0))
    if asked < RELEASES[0]:
        raise ValueError(f"aiven-operator {asked} is older than {RELEASES[0]}, the oldest release whose rules are "
                         "known")
    return max(r for r in RELEASES if r <= asked)


def changes_until(version: Release) -> tuple[Change, ...]:
    return tuple(change for change in CHANGES if change.release <= version)


@functools.cache
def schema_of(version: Release) -> Object:
    """The ConnectionPool schema of ``version``'s CRD: SCHEMA with every change up to it."""
    schema = SCHEMA
    for change in changes_until(version):
        existing = _node_or_none(schema, change.path)
        schema = schema.replace_at(change.path, change.edit.apply(existing))
    return schema


# The pool's identity and what it writes: they never change under a live pool (webhook.rules.integrity). The
# fields' immutability rules of the newest release apply in every release, counting a field set where it was absent
# as a change too, except the Secret's name set to the default (defaulting fills it in on the first update).
IDENTITY_FIELDS = ("spec.databaseName", "spec.project", "spec.serviceName", "spec.connInfoSecretTarget.name")
DEFAULT_SECRET_NAME_FROM = ("metadata", "name")


@functools.cache
def rules_schema(version: Release, evaluates_rules: bool = True) -> Object:
    """The schema whose CEL rules the webhook runs for ``version``: the release's own rules, where the cluster runs
    CEL rules at all (``evaluates_rules``), with the identity rules of the newest release on top."""
    schema = schema_of(version) if evaluates_rules else _without_rules(schema_of(version))
    assert isinstance(schema, Object)
    newest = schema_of(NEWEST)
    for field in (*IDENTITY_FIELDS, "spec.username"):
        path = tuple(field.split("."))
        ours, theirs = schema.node_at(path), newest.node_at(path)
        strict = field != "spec.username"  # the username rule on spec catches setting and removing it
        default_from = DEFAULT_SECRET_NAME_FROM if field == "spec.connInfoSecretTarget.name" else ()
        identity = tuple(replace(rule, strict=strict, default_from=default_from) for rule in theirs.rules
                         if isinstance(rule, Immutable))
        kept = tuple(rule for rule in ours.rules if not isinstance(rule, Immutable))
        schema = schema.replace_at(path, replace(ours, rules=identity + kept))
    spec = schema.node_at(("spec",))
    username_rules = tuple(rule for rule in newest.node_at(("spec",)).rules if isinstance(rule, ImmutableOnceSet))
    if not any(isinstance(rule, ImmutableOnceSet) for rule in spec.rules):
        schema = schema.replace_at(("spec",), replace(spec, rules=username_rules + spec.rules))
    return schema


def has_rules(node: Node) -> bool:
    """Whether any node of ``node`` carries a CEL rule."""
    if node.rules:
        return True
    if isinstance(node, Object):
        return any(has_rules(child) for child in node.properties.values())
    if isinstance(node, Map):
        return has_rules(node.values)
    return False


def _without_rules(node: Node) -> Node:
    if isinstance(node, Object):
        node = replace(node, properties={name: _without_rules(child) for name, child in node.properties.items()})
    return replace(node, rules=())


def _node_or_none(schema: Object, path: tuple[str, ...]) -> Node | None:
    parent = schema.node_at(path[:-1])
    assert isinstance(parent, Object)
    return parent.properties.get(path[-1])
