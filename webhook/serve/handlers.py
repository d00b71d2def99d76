"""The admission webhooks: ConnectionPool rules on one side, the AdmissionReview protocol on the other.

``/mutate`` defaults; ``/validate`` judges, delivering its verdict in the server's default enforcement mode, and
``/validate/deny``, ``/validate/warn`` and ``/validate/dryrun`` in that mode (the chart points the webhook entries of
namespaces labelled ``connectionpool-webhook.io/enforcement`` at them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

from webhook.rules import connectionpool, releases, updates
from webhook.rules.enforcement import Enforcement
from webhook.rules.ruleset import RuleSet, ruleset
from webhook.serve import admission
from webhook.serve.admission import Request, Response
from webhook.serve.delivery import deliver

# Operations that carry an object to judge; DELETE and CONNECT are always allowed.
JUDGED = admission.WRITES

# Reads every review the webhooks receive: they judge the same kind of object. The projection reads the fields the
# newest release declares, a superset of every release's.
REVIEWS = admission.Reader(releases.schema_of(releases.NEWEST))
DEFAULT_RULES = ruleset()


def validate(request: Request, enforcement: Enforcement = Enforcement.DENY,
             rules: RuleSet = DEFAULT_RULES) -> Response:
    if request.operation not in JUDGED:
        return admission.ALLOWED
    obj = request.object
    if updates.being_deleted(obj):
        return admission.ALLOWED
    if request.operation == "UPDATE":
        errors, unchanged = rules.validate_update(obj, request.old_object())
    else:
        errors, unchanged = rules.validate(obj), []
    if not errors and not unchanged:
        return admission.ALLOWED  # the common path
    name = connectionpool.object_name(obj) or request.name
    return deliver(enforcement, errors, unchanged, group=connectionpool.GROUP, kind=connectionpool.KIND, name=name)


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


def webhooks(enforcement: Enforcement = Enforcement.DENY, rules: RuleSet = DEFAULT_RULES) -> dict[str, Webhook]:
    """Route path -> webhook, for a server whose default mode is ``enforcement`` and whose cluster applies
    ``rules``."""

    def judge(mode: Enforcement) -> Callable[[Request], Response]:
        return functools.partial(validate, enforcement=mode, rules=rules)  # no Python frame of its own

    routes = {"/validate": Webhook("validate", judge(enforcement), enforcement)}
    for mode in Enforcement:
        routes[f"/validate/{mode}"] = Webhook("validate", judge(mode), mode)
    routes["/mutate"] = Webhook("mutate", mutate)
    return routes
