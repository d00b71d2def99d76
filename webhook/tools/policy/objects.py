"""The policy objects: the rules as a ValidatingAdmissionPolicy and its binding, defaulting as a
MutatingAdmissionPolicy and its binding, for a Kubernetes version; what ``connectionpool-webhook policy`` prints.

The CEL in them comes from :mod:`.cel`; the chart's ``templates/policy.yaml`` is generated from them (:mod:`.chart`).
"""

from __future__ import annotations

import re
import sys
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from webhook.rules import connectionpool, releases, wording
from webhook.rules.enforcement import Enforcement
from webhook.rules.releases import Release
from webhook.rules.schema import Object
from webhook.rules.wording import Wording
from webhook.tools.policy import cel

# The newest Kubernetes minor version the export knows; the default of `--kubernetes-version`.
NEWEST = (1, 37)
OLDEST = (1, 28)  # ValidatingAdmissionPolicy v1beta1, with variables, matchConditions and messageExpression
# A binding's validationActions for each enforcement mode.
VALIDATION_ACTIONS = {Enforcement.DENY: "Deny", Enforcement.WARN: "Warn", Enforcement.DRYRUN: "Audit"}
DEFAULT_NAME = "connectionpool-webhook"
GROUP_VERSION = "admissionregistration.k8s.io"


class UnsupportedVersion(ValueError):
    pass


def parse_version(text: str | None) -> tuple[int, int]:
    """``1.28``, ``v1.30.2`` -> (1, 28); the newest known for ``None``; refuses versions without the policy API."""
    if text is None:
        return NEWEST
    minor = wording.parse_version(text)
    if minor < OLDEST:
        raise UnsupportedVersion(
            f"Kubernetes {minor[0]}.{minor[1]} has no ValidatingAdmissionPolicy with messageExpression and "
            f"variables; the export needs {OLDEST[0]}.{OLDEST[1]} or newer"
        )
    return minor


def validating_api_version(minor: tuple[int, int]) -> str:
    """v1beta1 in 1.28 and 1.29 (beta, off by default), v1 (GA) from 1.30."""
    return f"{GROUP_VERSION}/{'v1' if minor >= (1, 30) else 'v1beta1'}"


def mutating_api_version(minor: tuple[int, int]) -> str | None:
    """None before 1.32; v1alpha1 in 1.32 and 1.33, v1beta1 in 1.34 and 1.35 (both off by default), v1 from 1.36."""
    if minor >= (1, 36):
        return f"{GROUP_VERSION}/v1"
    if minor >= (1, 34):
        return f"{GROUP_VERSION}/v1beta1"
    if minor >= (1, 32):
        return f"{GROUP_VERSION}/v1alpha1"
    return None



MATCH_CONDITIONS = [
    {"name": "not-being-deleted", "expression": cel.NOT_BEING_DELETED},
    {"name": "spec-changed", "expression": cel.SPEC_CHANGED},
]


def _match_constraints() -> dict[str, Any]:
    return {
        "resourceRules": [{
            "apiGroups": [connectionpool.GROUP],
            "apiVersions": [connectionpool.VERSION],
            "operations": ["CREATE", "UPDATE"],
            "resources": [connectionpool.RESOURCE],
        }],
    }


def validations(words: Wording, schema: Object = connectionpool.SCHEMA) -> tuple[list[dict[str, Any]],
                                                                                list[dict[str, str]]]:
    """The policy's ``validations`` (one per check) and ``variables``."""
    compiled = cel.compile(schema, words)
    out = [{
        "expression": f"!({validation.violation}) || ({cel.ratcheted(validation)})" if validation.ratchets
        else f"!({validation.violation})",
        "messageExpression": validation.message,
        "message": validation.fallback,
        "reason": "Invalid",
    } for validation in compiled.validations]
    return out, [{"name": name, "expression": expression} for name, expression in compiled.variables]


def validating_spec(words: Wording, release: Release = releases.DEFAULT) -> dict[str, Any]:
    """The rules of aiven-operator ``release`` (its schema, its CEL rules, and the identity rules on top)."""
    found, variables = validations(words, releases.rules_schema(release))
    return {
        # Fail: an expression that cannot be evaluated is reported through the binding's actions (a denial, a
        # warning or an audit annotation), never silently skipped.
        "failurePolicy": "Fail",
        "matchConstraints": _match_constraints(),
        "matchConditions": MATCH_CONDITIONS,
        "variables": variables,
        "validations": found,
    }


def validating_policy(name: str, minor: tuple[int, int], words: Wording,
                      release: Release = releases.DEFAULT) -> dict[str, Any]:
    return {
        "apiVersion": validating_api_version(minor),
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": validating_spec(words, release),
    }


def validating_binding(name: str, minor: tuple[int, int], enforcement: Enforcement) -> dict[str, Any]:
    return {
        "apiVersion": validating_api_version(minor),
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": [VALIDATION_ACTIONS[enforcement]]},
    }


def mutating_spec() -> dict[str, Any]:
    return {
        # Ignore, like the mutating webhook: the operator falls back to the resource name itself, and the
        # validating policy judges the object either way.
        "failurePolicy": "Ignore",
        "reinvocationPolicy": "Never",
        "matchConstraints": _match_constraints(),
        "matchConditions": MATCH_CONDITIONS,
        "variables": [{"name": n, "expression": e} for n, e in cel.defaulting_variables()],
        "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": cel.defaulting_patch()}}],
    }


def mutating_policy(name: str, minor: tuple[int, int]) -> dict[str, Any] | None:
    api_version = mutating_api_version(minor)
    if api_version is None:
        return None
    return {"apiVersion": api_version, "kind": "MutatingAdmissionPolicy", "metadata": {"name": name},
            "spec": mutating_spec()}


def mutating_binding(name: str, minor: tuple[int, int]) -> dict[str, Any] | None:
    api_version = mutating_api_version(minor)
    if api_version is None:
        return None
    return {
        "apiVersion": api_version,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name},
    }


def export(version: str | None = None, enforcement: Enforcement = Enforcement.DENY, name: str = DEFAULT_NAME,
           release: Release = releases.DEFAULT) -> list[dict[str, Any]]:
    """The objects `connectionpool-webhook policy` prints, for a Kubernetes version (default: the newest) and an
    aiven-operator release (default: v0.8.0's rules)."""
    if enforcement not in VALIDATION_ACTIONS:  # a mode's plain string is one too (Enforcement is a StrEnum)
        raise ValueError(f"enforcement must be one of {', '.join(Enforcement)}, not {enforcement!r}")
    minor = parse_version(version)
    words = wording.for_version(minor)
    objects: list[dict[str, Any] | None] = [
        validating_policy(name, minor, words, release),
        validating_binding(name, minor, enforcement),
        mutating_policy(name, minor),
        mutating_binding(name, minor),
    ]
    return [o for o in objects if o is not None]


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def valid_name(name: str) -> str:
    """Policy and binding names are DNS subdomains (lower case, at most 253 characters)."""
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValueError(f"{name!r} is not a valid object name: lower-case letters, digits, '-' and '.', starting "
                         "and ending with a letter or digit, at most 253 characters")
    return name


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The objects as one YAML stream, ``---`` between documents; long CEL on one line each, never folded."""
    dumper = YAML(typ="safe", pure=True)
    dumper.default_flow_style = False
    dumper.width = sys.maxsize  # never fold a line
    dumper.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = StringIO()
    dumper.dump_all(objects, out)
    return out.getvalue()


