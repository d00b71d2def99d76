"""The admission webhooks: ConnectionPool rules on one side, the AdmissionReview protocol on the other.

``/mutate`` defaults; ``/validate`` judges, delivering its verdict in the server's default enforcement mode, and
``/validate/deny``, ``/validate/warn`` and ``/validate/dryrun`` in that mode (the chart points the webhook entries of
namespaces labelled ``connectionpool-webhook.io/enforcement`` at them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

from webhook.rules import connectionpool, updates, wording
from webhook.rules.enforcement import Enforcement
from webhook.rules.fielderrors import FieldError
from webhook.rules.wording import Wording
from webhook.serve import admission
from webhook.serve.admission import Request, Response
from webhook.serve.delivery import deliver

# Operations that carry an object to judge; DELETE and CONNECT are always allowed.
JUDGED = admission.WRITES

# Reads every review the webhooks receive: they judge the same kind of object.
REVIEWS = admission.Reader(connectionpool.SCHEMA)


def validate(request: Request, enforcement: Enforcement = Enforcement.DENY,
             words: Wording = wording.LATEST) -> Response:
    if request.operation not in JUDGED:
        return admission.ALLOWED
    obj = request.object
    if updates.being_deleted(obj):
        return admission.ALLOWED
    errors = connectionpool.validate(obj, words)
    if not errors:
        return admission.ALLOWED  # the common path: oldObject is never read
    unchanged: list[FieldError] = []
    if request.operation == "UPDATE":
        errors, unchanged = updates.ratchet(errors, obj, request.old_object())
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


def webhooks(enforcement: Enforcement = Enforcement.DENY, words: Wording = wording.LATEST) -> dict[str, Webhook]:
    """Route path -> webhook, for a server whose default mode is ``enforcement`` and whose cluster words as
    ``words``."""

    def judge(mode: Enforcement) -> Callable[[Request], Response]:
        return functools.partial(validate, enforcement=mode, words=words)  # no Python frame of its own

    routes = {"/validate": Webhook("validate", judge(enforcement), enforcement)}
    for mode in Enforcement:
        routes[f"/validate/{mode}"] = Webhook("validate", judge(mode), mode)
    routes["/mutate"] = Webhook("mutate", mutate)
    return routes
