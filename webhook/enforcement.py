"""Enforcement modes: how a verdict is delivered, never what the rules decide (Gatekeeper's vocabulary).

- ``deny``: the Status the apiserver itself returns for an invalid object (422 Invalid with every cause);
- ``warn``: allowed, with every problem as a warning, which kubectl prints as ``Warning: ...``;
- ``dryrun``: allowed silently; the request log line and the violations metric still record it.

Problems that UPDATE ratcheting let through (the fields were already bad and the update left them as they were) are
warnings in ``deny`` and ``warn`` mode, so that users learn about them without being blocked.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from webhook import admission
from webhook.admission import Response
from webhook.fielderrors import FieldError

# The Kubernetes docs advise warnings of at most 120 characters.
MAX_WARNING = 120
UNCHANGED = " (unchanged by this update, so allowed)"
ELLIPSIS = "..."


class Enforcement(enum.StrEnum):
    DENY = "deny"
    WARN = "warn"
    DRYRUN = "dryrun"


def warning(error: FieldError, suffix: str = "") -> str:
    """``field: message`` plus ``suffix``, shortened to fit :data:`MAX_WARNING` (the suffix is always kept)."""
    room = MAX_WARNING - len(suffix)
    text = error.text
    if len(text) > room:
        text = text[: room - len(ELLIPSIS)] + ELLIPSIS
    return text + suffix


def deliver(mode: Enforcement, errors: Sequence[FieldError], unchanged: Sequence[FieldError] = (), *,
            group: str, kind: str, name: str) -> Response:
    """The answer for an object with ``errors`` (which deny) and ``unchanged`` ones (which ratcheting allows)."""
    if mode is Enforcement.DRYRUN:
        return Response(allowed=True, errors=len(errors))
    notes = [warning(e, UNCHANGED) for e in unchanged]
    if not errors:
        return admission.allowed(notes)
    if mode is Enforcement.DENY:
        denied = admission.invalid(group, kind, name, errors)
        return denied._replace(warnings=notes)
    return Response(allowed=True, warnings=[*notes, *(warning(e) for e in errors)], errors=len(errors))
