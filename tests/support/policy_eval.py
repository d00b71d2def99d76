"""Evaluate exported admission policies as the kube-apiserver does, with Google's CEL runtime (cel-expr-python, the
Python binding of cel-cpp, which passes the same CEL conformance suite as cel-go, the Kubernetes one).

Where cel-cpp and Kubernetes' cel-go environment differ, this module takes the apiserver's side or the tests check
the policy for the difference instead (tests/tools/test_policy.py, "differences"):

- Kubernetes declares ``object``, ``oldObject`` and ``variables`` dynamically typed and ``request`` as an object;
  here all four are dynamic maps.
- Kubernetes evaluates variables lazily; here they are evaluated in order, up front (the exported ones never fail).
- Kubernetes' CEL environment rejects mixed-type list literals and cross-type numeric comparisons in new
  expressions; cel-cpp accepts both, so the tests look for them in the source.
- MutatingAdmissionPolicy's ``JSONPatch{...}`` type does not exist here: the patch is evaluated as plain maps with
  the same fields (``policy.defaulting_patch(typed=False)``).
- Objects reach the policy as the apiserver decodes JSON (``apiserver_decoded``): integer literals within int64 are
  ints, every other number a double, lone UTF-16 surrogates U+FFFD.
- cel-expr-python cuts a Python string at its first NUL when it hands it to CEL. Go strings have no such limit, so
  the tests give both sides the same object with NUL replaced (``without_nul``): the checks only compare lengths
  and equality, which a one-for-one replacement keeps.
"""

from __future__ import annotations

import ctypes
import functools
import json
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

from webhook.rules import transitions, wording
from webhook.rules.fielderrors import FieldError
from webhook.rules.ruleset import RuleSet

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# cel-expr-python 0.1.3 drops a reference to None whenever a null crosses from CEL to Python (an expression or a
# member evaluating to null), so after enough evaluations CPython 3.11 frees None and aborts ("none_dealloc"). None
# is never freed legitimately: give it headroom once, so that the drift can never reach zero in a test run.
ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40

ENV = cel.NewEnv(
    variables={name: cel.Type.DYN for name in ("object", "oldObject", "request", "variables")},
    extensions=[ext_strings.ExtStrings(0)],  # Kubernetes' strings library before 1.29, what new expressions get
)


class CelError(AssertionError):
    """An expression did not compile or did not evaluate: the apiserver would fail the request (failurePolicy)."""


class Undecodable(ValueError):
    """The apiserver would refuse this body before admission (a number beyond float64)."""


@functools.cache
def compiled(expression: str) -> Any:
    try:
        return ENV.compile(expression)
    except Exception as exc:
        raise CelError(f"does not compile: {expression}\n{exc}") from None


def run(expression: str, data: dict[str, Any]) -> Any:
    value = compiled(expression).eval(data=data)
    if value.type() == cel.Type.ERROR:
        raise CelError(f"evaluation error {value.value()} in: {expression}")
    return value.plain_value()


def _text(text: str) -> str:
    # Go's JSON decoder joins escaped surrogate pairs and turns a lone surrogate into U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def apiserver_decoded(value: Any) -> Any:
    """``value`` as the apiserver holds it after decoding the request's JSON (sigs.k8s.io/json, PreserveInts)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        try:
            return float(value)
        except OverflowError:
            raise Undecodable(f"number out of range: {str(value)[:20]}...") from None
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [apiserver_decoded(v) for v in value]
    return {_text(k): apiserver_decoded(v) for k, v in value.items()}


def without_nul(value: Any) -> Any:
    """``value`` with every NUL in its strings (keys too) replaced by U+FFFF, a character of the same length."""
    if isinstance(value, str):
        return value.replace("\x00", "\uffff")
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


def _through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass
class Outcome:
    matched: bool  # false: a matchCondition excluded the request
    failures: list[str]  # the messages of the failing validations, in order
    variables: dict[str, Any]


def evaluate(obj: dict[str, Any], spec: dict[str, Any], *, old: Any = None, operation: str = "CREATE") -> Outcome:
    """Run a policy's matchConditions, variables and validations on an admission request."""
    data: dict[str, Any] = {"object": obj, "oldObject": old, "request": {"operation": operation}}
    for condition in spec.get("matchConditions", []):
        matched = run(condition["expression"], {**data, "variables": {}})
        assert isinstance(matched, bool), condition
        if not matched:
            return Outcome(False, [], {})
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        variables[variable["name"]] = run(variable["expression"], {**data, "variables": variables})
    data["variables"] = variables
    failures = []
    for validation in spec.get("validations", []):
        ok = run(validation["expression"], data)
        assert isinstance(ok, bool), validation["expression"]
        if not ok:
            message = run(validation["messageExpression"], data)
            assert isinstance(message, str) and "\n" not in message and 0 < len(message.encode()) <= 5120, message
            failures.append(message)
    return Outcome(True, failures, variables)


def patch(obj: dict[str, Any], spec: dict[str, Any], expression: str, *, old: Any = None,
          operation: str = "CREATE") -> list[dict[str, Any]] | None:
    """A MutatingAdmissionPolicy's JSON Patch for a request (``expression`` in its untyped form), None if it does
    not match."""
    outcome = evaluate(obj, {**spec, "validations": []}, old=old, operation=operation)
    if not outcome.matched:
        return None
    data = {"object": obj, "oldObject": old, "request": {"operation": operation}, "variables": outcome.variables}
    ops = run(expression, data)
    assert isinstance(ops, list)
    return [dict(op) for op in _through_json(ops)]


def expected_failures(rules: RuleSet, obj: Any, old: Any = None) -> list[FieldError]:
    """What a policy of ``rules`` fails for a CREATE (``old`` None) or an UPDATE, in order: the webhook's causes,
    except the one that says the apiserver skipped the CEL rules (a policy cannot say it) and, where a schema error
    made the webhook skip them, the rules' failures (a policy's validations cannot see each other)."""
    found = rules.validate(obj) if old is None else rules.validate_update(obj, old).denying
    found = [e for e in found if e.field != wording.UNCHECKED_FIELD]
    comparable = isinstance(old, dict) and isinstance(old.get("spec"), dict)
    if comparable and any(e.type in wording.BLOCKING for e in found):
        found += transitions.errors(rules.rules, obj, old, rules.words)
    return found
