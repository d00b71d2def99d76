"""A verdict delivered as an answer, by enforcement mode (:class:`webhook.rules.enforcement.Enforcement`).

- ``deny``: the Status the apiserver itself returns for an invalid object (422 Invalid with every cause);
- ``warn``: allowed, with every problem as a warning, which kubectl prints as ``Warning: ...``;
- ``dryrun``: allowed silently; the request log line and the violations metric still record it.
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook.rules.enforcement import UNCHANGED, Enforcement, warning
from webhook.rules.fielderrors import FieldError
from webhook.serve import admission
from webhook.serve.admission import Response


def deliver(mode: Enforcement, errors: Sequence[FieldError], unchanged: Sequence[FieldError] = (), *,
            group: str, kind: str, name: str, notes: Sequence[str] = ()) -> Response:
    """The answer for an object with ``errors`` (which deny) and ``unchanged`` ones (which ratcheting allows), with
    ``notes`` to tell the user in any case (warnings of the cluster checks)."""
    if mode is Enforcement.DRYRUN:
        return Response(allowed=True, errors=len(errors))
    notes = [*(warning(e, UNCHANGED) for e in unchanged), *notes]
    if not errors:
        return admission.allowed(notes)
    if mode is Enforcement.DENY:
        denied = admission.invalid(group, kind, name, errors)
        return denied._replace(warnings=notes)
    return Response(allowed=True, warnings=[*notes, *(warning(e) for e in errors)], errors=len(errors))
