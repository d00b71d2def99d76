"""The rules one cluster applies, and the verdicts they give: an aiven-operator release's ConnectionPool schema,
checked and worded as one Kubernetes version's apiserver checks and words it.

A :class:`RuleSet` runs what the apiserver runs for a custom resource, in its order: the OpenAPI schema (the
generated validator), then, unless the schema found a type, required, enum or size error, the CEL rules (where the
release's CRD has them the cluster runs them; the identity rules always, see :mod:`webhook.rules.releases`). When a
schema error keeps the CEL rules from running, the apiserver says so with a cause of its own, and so does this.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from webhook.rules import connectionpool, releases, transitions, validator, wording
from webhook.rules.fielderrors import FieldError
from webhook.rules.releases import Release
from webhook.rules.schema import Object
from webhook.rules.updates import Ratcheted, ratchet
from webhook.rules.wording import BLOCKING, Wording


class Admission(NamedTuple):
    """What admission would make of a new object: defaulting's patch and warnings, then the rules' errors."""

    patch: tuple[dict[str, Any], ...]
    errors: list[FieldError]
    warnings: tuple[str, ...]


@dataclass(frozen=True, eq=False)  # one per (release, wording), made once: hashed by identity
class RuleSet:
    release: Release
    words: Wording
    schema: Object  # the release's CRD schema: what is validated, and what `schema` prints
    rules: Object  # the same schema with the CEL rules this cluster runs, the identity rules on top
    validator: validator.Validator
    # The release's CRD has CEL rules and the cluster runs them: a schema error that blocks them is reported.
    reports_unchecked_rules: bool

    def validate(self, obj: Any) -> list[FieldError]:
        """Every problem of ``obj`` as a new object (a CREATE): empty when it is valid."""
        errors: list[FieldError] = []
        self.validator(obj, errors)
        return self._rules(errors, obj, None)

    def validate_update(self, obj: Any, old: Any) -> Ratcheted:
        """An UPDATE's problems: schema errors ratcheted against ``old``, then the CEL rules, which compare the two."""
        errors: list[FieldError] = []
        self.validator(obj, errors)
        denying, unchanged = ratchet(errors, obj, old)
        # A stored object without a spec to compare with (the apiserver never sends one) has no values to keep.
        comparable = type(old) is dict and type(old.get("spec")) is dict
        return Ratcheted(self._rules(denying, obj, old if comparable else None), unchanged)

    def admit(self, obj: Any) -> Admission:
        """Defaulting, then the rules on the defaulted object: the verdict a ``kubectl apply`` of ``obj`` would get.

        ``check`` and ``audit`` use it; the webhook reaches the same verdict in two calls, mutate then validate.
        """
        defaults = connectionpool.default(obj)
        return Admission(defaults.patch, self.validate(connectionpool.apply(obj, defaults.patch)), defaults.warnings)

    def _rules(self, errors: list[FieldError], obj: Any, old: Any) -> list[FieldError]:
        if any(error.type in BLOCKING for error in errors):
            return [*errors, self.words.rules_not_checked()] if self.reports_unchecked_rules else errors
        if old is None:
            return errors  # every rule here compares with oldSelf, which a CREATE does not have
        broken = transitions.errors(self.rules, obj, old, self.words)
        return [*errors, *broken] if broken else errors


@functools.cache
def ruleset(release: Release = releases.DEFAULT, words: Wording = wording.LATEST) -> RuleSet:
    """The rules of aiven-operator ``release`` on a cluster whose apiserver words (and runs) them as ``words``."""
    schema = releases.schema_of(release)
    return RuleSet(
        release=release,
        words=words,
        schema=schema,
        rules=releases.rules_schema(release, words.evaluates_rules),
        validator=validator.compile(schema, words),
        reports_unchecked_rules=words.evaluates_rules and releases.has_rules(schema),
    )


def validate(obj: Any, words: Wording = wording.LATEST, release: Release = releases.DEFAULT) -> list[FieldError]:
    """Every problem of ``obj`` as a new object, in declaration order, worded as ``words`` says; empty when valid."""
    return ruleset(release, words).validate(obj)


def admit(obj: Any, words: Wording = wording.LATEST, release: Release = releases.DEFAULT) -> Admission:
    return ruleset(release, words).admit(obj)
