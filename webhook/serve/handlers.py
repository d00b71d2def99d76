"""The admission webhooks: ConnectionPool rules on one side, the AdmissionReview protocol on the other.

``/mutate`` defaults; ``/validate`` judges, delivering its verdict in the server's default enforcement mode, and
``/validate/deny``, ``/validate/warn`` and ``/validate/dryrun`` in that mode (the chart points the webhook entries of
namespaces labelled ``connectionpool-webhook.io/enforcement`` at them).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from typing import Literal, NamedTuple

from webhook.rules import connectionpool, integrity, releases, updates
from webhook.rules.enforcement import Enforcement
from webhook.rules.fielderrors import FieldError
from webhook.rules.ruleset import RuleSet, ruleset
from webhook.serve import admission, cluster_checks
from webhook.serve.admission import Request, Response
from webhook.serve.cluster_checks import Cluster
from webhook.serve.delivery import deliver

# Operations that carry an object to judge; DELETE and CONNECT are always allowed.
JUDGED = admission.WRITES

# Reads every review the webhooks receive: they judge the same kind of object. The projection reads the fields the
# newest release declares, a superset of every release's.
REVIEWS = admission.Reader(releases.schema_of(releases.NEWEST))
DEFAULT_RULES = ruleset()


def validate(request: Request, enforcement: Enforcement = Enforcement.DENY, rules: RuleSet = DEFAULT_RULES,
             cluster: Cluster | None = None) -> Response | Awaitable[Response]:
    """Judge a write by the rules and, with a view of the cluster, by the integrity rules too; an answer, or one still
    to come when a Secret has to be read first."""
    if request.operation not in JUDGED:
        return admission.ALLOWED
    obj = request.object
    if updates.being_deleted(obj):
        return admission.ALLOWED
    old = None
    if request.operation == "UPDATE":
        old = request.old_object()
        errors, unchanged = rules.validate_update(obj, old)
    else:
        errors, unchanged = rules.validate(obj), []
    if cluster is None or (old is not None and cluster_checks.unchanged(obj, old)):
        if not errors and not unchanged:
            return admission.ALLOWED  # the common path
        return _verdict(request, enforcement, errors, unchanged)
    findings, pending = cluster_checks.check(cluster, integrity.pool_of(obj, request.namespace),
                                             integrity.pool_of(old, request.namespace))
    if findings is None:
        return _verdict(request, enforcement, errors, unchanged)
    judged = _Judged(request, enforcement, errors, unchanged, findings)
    return judged.response() if pending is None else _after(pending, judged)


class _Judged(NamedTuple):
    """A verdict whose cluster checks may still be running: the rules' errors, and the checks' findings."""

    request: Request
    enforcement: Enforcement
    errors: list[FieldError]
    unchanged: list[FieldError]
    findings: cluster_checks.Findings

    def response(self) -> Response:
        return _verdict(self.request, self.enforcement, [*self.errors, *self.findings.errors], self.unchanged,
                        self.findings.warnings)


async def _after(pending: Awaitable[None], judged: _Judged) -> Response:
    await pending
    return judged.response()


def _verdict(request: Request, enforcement: Enforcement, errors: list[FieldError], unchanged: list[FieldError],
             notes: list[str] | tuple[()] = ()) -> Response:
    if not errors and not unchanged and not notes:
        return admission.ALLOWED
    name = connectionpool.object_name(request.object) or request.name
    return deliver(enforcement, errors, unchanged, group=connectionpool.GROUP, kind=connectionpool.KIND, name=name,
                   notes=notes)


def mutate(request: Request) -> Response:
    """Default what can be defaulted; never deny: judging the object is ``validate``'s job."""
    if request.operation not in JUDGED or updates.being_deleted(request.object):
        return admission.ALLOWED
    defaults = connectionpool.default(request.object)
    return admission.patched(defaults.patch, defaults.warnings)


class Webhook(NamedTuple):
    name: str  # as it appears in metrics and logs
    handler: admission.Handler
    enforcement: Enforcement | Literal[""] = ""  # how a validating webhook delivers its verdict; "" for mutating


def webhooks(enforcement: Enforcement = Enforcement.DENY, rules: RuleSet = DEFAULT_RULES,
             cluster: Cluster | None = None) -> dict[str, Webhook]:
    """Route path -> webhook, for a server whose default mode is ``enforcement``, whose cluster applies ``rules``,
    and which checks integrity against ``cluster`` (None: the cluster checks are off)."""

    def judge(mode: Enforcement) -> admission.Handler:
        return functools.partial(validate, enforcement=mode, rules=rules, cluster=cluster)  # no frame of its own

    routes = {"/validate": Webhook("validate", judge(enforcement), enforcement)}
    for mode in Enforcement:
        routes[f"/validate/{mode}"] = Webhook("validate", judge(mode), mode)
    routes["/mutate"] = Webhook("mutate", mutate)
    return routes
