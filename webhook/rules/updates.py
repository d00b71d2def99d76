"""What an UPDATE may do: ratcheting against ``oldObject``, and objects being deleted.

These are rules too, beside the others, so that every enforcement point (the webhook, and the policy export in CEL)
applies the same ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from webhook.rules.fielderrors import FieldError


def being_deleted(obj: Any) -> bool:
    """``metadata.deletionTimestamp`` is set: the object is on its way out, and only finalizers are left to remove.

    Denying such an object's UPDATEs would keep it (and its namespace) Terminating forever.
    """
    if type(obj) is dict:
        metadata = obj.get("metadata")
        return type(metadata) is dict and metadata.get("deletionTimestamp") is not None
    return False


_MISSING = object()


def _value_at(obj: Any, field: str) -> Any:
    """The value at a field path (``spec.authSecretRef.key``); null counts as absent, as the apiserver prunes it."""
    value = obj
    for name in field.split(".") if field else ():
        if type(value) is not dict:
            return _MISSING
        value = value.get(name)
        if value is None:
            return _MISSING
    return value


def same(a: Any, b: Any) -> bool:
    """JSON equality as Go's DeepEqual sees decoded values: 1, 1.0 and true are three different values."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(map(same, a, b))
    return bool(a == b)


class Ratcheted(NamedTuple):
    """An UPDATE's errors, split: those the update made (they deny) and those it left as they were."""

    denying: list[FieldError]
    unchanged: list[FieldError]


def ratchet(errors: list[FieldError], obj: Any, old: Any) -> Ratcheted:
    """Validation ratcheting, as the apiserver does it for CRDs since 1.30: on UPDATE, an error at a field whose
    value equals the one in ``old`` (or that is absent in both) does not deny. Changing a bad value to another bad
    value, or making a good one bad, still does.
    """
    if type(old) is not dict:  # nothing to compare with (the apiserver always sends oldObject with an UPDATE)
        return Ratcheted(list(errors), [])
    denying: list[FieldError] = []
    unchanged: list[FieldError] = []
    for error in errors:
        before, after = _value_at(old, error.field), _value_at(obj, error.field)
        unchanged_value = before is after if _MISSING in (before, after) else same(before, after)
        (unchanged if unchanged_value else denying).append(error)
    return Ratcheted(denying, unchanged)
