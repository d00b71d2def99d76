"""The verdict the webhook would give an object, as a report's :class:`~webhook.tools.report.model.Result`: what
``check`` and ``audit`` both ask of the rules (``ruleset.admit``: defaulting, then the rules, the code the
webhook runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from webhook.rules import integrity
from webhook.rules.enforcement import warning
from webhook.rules.fielderrors import FieldError
from webhook.rules.integrity import Pool
from webhook.rules.ruleset import RuleSet
from webhook.tools.report.model import Result


def judge(obj: dict[str, Any], rules: RuleSet, *, file: str | None = None, line: int | None = None,
          locate: Callable[[str], int] | None = None) -> Result:
    """The webhook's verdict on creating ``obj``: ``ruleset.admit`` (defaulting, then the rules).

    An object with only ``metadata.generateName`` is judged as the apiserver judges it: defaulting runs before the
    name exists (so it only warns), the rules run after the apiserver made one up.
    """
    admission = rules.admit(obj)
    errors = admission.errors
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    name = metadata.get("name")
    generate = metadata.get("generateName")
    if not name and isinstance(generate, str) and generate:
        named = {**obj, "metadata": {**metadata, "name": generate + "x" * 5}}
        errors = rules.admit(named).errors
        name = generate
    namespace = metadata.get("namespace")
    uid = metadata.get("uid")
    causes = tuple(_cause(e) for e in errors)
    return Result(
        kind=str(obj.get("kind")),
        namespace=namespace if isinstance(namespace, str) else None,
        name=name if isinstance(name, str) else None,
        allowed=not errors,
        causes=causes,
        patch=tuple(admission.patch),
        warnings=tuple(admission.warnings),
        file=file,
        line=line,
        cause_lines=tuple(locate(e.field) for e in errors) if locate else (),
        warn_texts=tuple(warning(e) for e in errors),
        uid=uid if isinstance(uid, str) and uid else None,
    )


def cross_check(results: list[Result], pools: Sequence[tuple[int, Pool]]) -> integrity.Index:
    """The integrity rules among objects (1 and 2: the same Aiven pool, the same Secret in one namespace, twice),
    each conflict found once: ``pools`` (index into ``results``, pool) in the order the objects came to be, and each
    is judged against the ones before it; a conflict is added to the later object's result, naming the earlier. An
    object being deleted is never denied (as the webhook never denies one), but still holds its identity. Returns the
    index of them all."""
    seen = integrity.Index()
    for at, pool in pools:
        found = integrity.conflicts(pool, seen) if not pool.deleting else []
        if found:
            results[at] = with_conflicts(results[at], found)
        seen.put(pool)
    return seen


def with_conflicts(result: Result, errors: Sequence[FieldError]) -> Result:
    """``result`` denied for ``errors`` found among other objects (the integrity rules) too, each at the object's
    line."""
    return replace(
        result,
        allowed=False,
        causes=(*result.causes, *map(_cause, errors)),
        cause_lines=(*result.cause_lines, *(result.line or 0 for _ in errors)) if result.cause_lines else (),
        warn_texts=(*result.warn_texts, *map(warning, errors)),
    )


def _cause(error: FieldError) -> dict[str, str]:
    return {"reason": str(error.type), "field": error.field, "message": error.message}
