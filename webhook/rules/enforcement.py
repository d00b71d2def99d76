"""Enforcement modes: how a verdict is delivered, never what the rules decide (Gatekeeper's vocabulary).

``deny`` refuses a bad object, ``warn`` allows it with a warning per problem, ``dryrun`` allows it silently. The
server delivers them (:mod:`webhook.serve.delivery`), ``check`` and ``audit`` choose their exit status by them, and the
policy export maps them to a binding's ``validationActions``. A warning's text is made here, once for all of them.

Problems that UPDATE ratcheting let through (the fields were already bad and the update left them as they were) are
warnings in ``deny`` and ``warn`` mode, so that users learn about them without being blocked.
"""

from __future__ import annotations

import enum

from webhook.rules.fielderrors import FieldError

# The AdmissionResponse API advises 120 characters where possible and lets the apiserver truncate warnings over 256.
# Ours are cut only there: a warning that names the other object (the integrity rules) keeps its names.
MAX_WARNING = 256
UNCHANGED = " (unchanged by this update, so allowed)"
ELLIPSIS = "..."


class Enforcement(enum.StrEnum):
    """The one spelling of a mode: the server's default and per-namespace routes, ``check``/``audit`` and the policy
    export all take this type (it is a ``str``, so it prints and serialises as its value)."""

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
