"""The two admission webhooks: ConnectionPool rules on one side, the AdmissionReview protocol on the other."""

from __future__ import annotations

from typing import NamedTuple

from webhook import admission, connectionpool
from webhook.admission import Request, Response

# Operations that carry an object to judge; DELETE and CONNECT are always allowed.
JUDGED = admission.WRITES

# Reads every review both webhooks receive: they judge the same kind of object.
REVIEWS = admission.Reader(connectionpool.SCHEMA)


def validate(request: Request) -> Response:
    if request.operation not in JUDGED:
        return admission.allowed()
    errors = connectionpool.validate(request.object)
    if not errors:
        return admission.allowed()
    name = connectionpool.object_name(request.object) or request.name
    return admission.invalid(connectionpool.GROUP, connectionpool.KIND, name, errors)


def mutate(request: Request) -> Response:
    """Default what can be defaulted; never deny: judging the object is ``validate``'s job."""
    if request.operation not in JUDGED:
        return admission.allowed()
    defaults = connectionpool.default(request.object)
    return admission.patched(defaults.patch, defaults.warnings)


class Webhook(NamedTuple):
    name: str  # as it appears in metrics and logs
    handler: admission.Handler


# Route path -> webhook.
WEBHOOKS: dict[str, Webhook] = {
    "/validate": Webhook("validate", validate),
    "/mutate": Webhook("mutate", mutate),
}
