"""Integrity: the rules that look beyond one object, at the other ConnectionPools and at the Secrets they use.

A pool's identity in Aiven is (``spec.project``, ``spec.serviceName``, ``metadata.name``); the operator writes its
connection Secret, named ``spec.connInfoSecretTarget.name`` (default: the resource's name), in the object's namespace
and makes itself its controller (unless ``spec.connInfoSecretTargetDisabled``). From these facts:

1. a second ConnectionPool with the same identity would manage the same Aiven pool (denied);
2. a second ConnectionPool writing the same Secret would fail forever at reconcile time (denied);
3. a Secret of that name that exists and is not controlled by this ConnectionPool would get the pool's keys merged
   into it (denied);
4. identity fields that change under a live pool (:mod:`webhook.rules.releases`: the immutability rules);
5. ``spec.authSecretRef.name`` naming a Secret that does not exist (a warning: it may be applied in the same
   ``kubectl apply``, after the pool).

The functions here are pure: they read a :class:`View` of the other pools (an :class:`Index`: built from a watch by
the server, from a list by ``audit``, from the manifests by ``check``) and, for 3 and 5, what is known of one Secret
(its metadata, or that it does not exist). Getting those is the caller's job, as is deciding what to do when it
cannot (a missing view never denies).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from webhook.rules import connectionpool
from webhook.rules.fielderrors import ErrorType, FieldError, error, go_quote


class Pool(NamedTuple):
    """What the integrity rules need of one ConnectionPool."""

    namespace: str
    name: str
    project: str
    service: str
    secret: str | None  # the connection Secret it writes; None when connInfoSecretTargetDisabled
    uid: str = ""
    created: str = ""  # metadata.creationTimestamp (RFC 3339: ordered as text)
    auth_secret: str | None = None  # spec.authSecretRef.name
    deleting: bool = False  # metadata.deletionTimestamp is set: it still manages its pool until it is gone
    where: str = ""  # where a manifest holds it (file:line), for check

    @property
    def identity(self) -> tuple[str, str, str]:
        return self.project, self.service, self.name

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def shown(self) -> str:
        shown = f"{self.namespace}/{self.name}" if self.namespace else self.name
        notes = [note for note in (self.where, "being deleted" if self.deleting else "") if note]
        return f"{shown} ({', '.join(notes)})" if notes else shown


_new_pool = tuple.__new__  # a Pool built without the generated __new__'s Python frame: pool_of is on the hot path


def pool_of(obj: Any, namespace: str = "") -> Pool | None:
    """The pool an object describes, or None when its identity is not there to read (a malformed object, which the
    schema rules judge). ``namespace`` is the request's, for an object that does not say its own. On the server's
    path for every CREATE, so written flat: plain lookups, no calls but the dicts' ``get``, one tuple."""
    if type(obj) is not dict:
        return None
    metadata, spec = obj.get("metadata"), obj.get("spec")
    if type(metadata) is not dict or type(spec) is not dict:
        return None
    name, project, service = metadata.get("name"), spec.get("project"), spec.get("serviceName")
    if not (type(name) is str and name and type(project) is str and project and type(service) is str and service):
        return None
    secret: str | None = name
    if spec.get("connInfoSecretTargetDisabled") is True:
        secret = None
    else:
        target = spec.get("connInfoSecretTarget")
        if type(target) is dict:
            named = target.get("name")
            if type(named) is str and named:
                secret = named
    auth = spec.get("authSecretRef")
    auth_secret = auth.get("name") if type(auth) is dict else None
    own_namespace, uid, created = metadata.get("namespace"), metadata.get("uid"), metadata.get("creationTimestamp")
    return _new_pool(Pool, (
        own_namespace if type(own_namespace) is str and own_namespace else namespace,
        name,
        project,
        service,
        secret,
        uid if type(uid) is str else "",
        created if type(created) is str else "",
        auth_secret if type(auth_secret) is str and auth_secret else None,
        metadata.get("deletionTimestamp") is not None,
        "",
    ))


class View(Protocol):
    """The other ConnectionPools, as far as they are known."""

    def with_identity(self, identity: tuple[str, str, str]) -> Iterable[Pool]: ...

    def writing(self, namespace: str, secret: str) -> Iterable[Pool]: ...


class Index:
    """Pools by identity and by the Secret they write, kept current with :meth:`put` and :meth:`remove` (a watch's
    events, a list's items, a run of manifests). Small for 100,000 pools: each lookup entry is a tuple of the pools
    that share it (usually one), and one key tuple per pool is shared by the three maps.

    One thread may write while others read, without a lock: each entry is replaced whole (one dict assignment), and
    :meth:`put` adds a pool's new entries before it takes its old ones away, so every lookup sees the state before
    the change or after it, and never misses a pool that is in both."""

    def __init__(self) -> None:
        self.pools: dict[tuple[str, str], Pool] = {}
        self._by_identity: dict[tuple[str, str, str], tuple[Pool, ...]] = {}
        self._by_secret: dict[tuple[str, str], tuple[Pool, ...]] = {}

    def __len__(self) -> int:
        return len(self.pools)

    def put(self, pool: Pool) -> None:
        key = pool.key
        old = self.pools.get(key)
        if old == pool:
            return
        self.pools[key] = pool
        _put(self._by_identity, pool.identity, pool)
        if old is not None and old.identity != pool.identity:
            _discard(self._by_identity, old.identity, key)
        secret = (pool.namespace, pool.secret) if pool.secret is not None else None
        if secret is not None:
            _put(self._by_secret, secret, pool)
        if old is not None and old.secret is not None and (old.namespace, old.secret) != secret:
            _discard(self._by_secret, (old.namespace, old.secret), key)

    def remove(self, key: tuple[str, str]) -> None:
        pool = self.pools.pop(key, None)
        if pool is None:
            return
        _discard(self._by_identity, pool.identity, key)
        if pool.secret is not None:
            _discard(self._by_secret, (pool.namespace, pool.secret), key)

    def with_identity(self, identity: tuple[str, str, str]) -> Iterable[Pool]:
        return self._by_identity.get(identity, ())

    def writing(self, namespace: str, secret: str) -> Iterable[Pool]:
        return self._by_secret.get((namespace, secret), ())


def _put(index: dict[Any, tuple[Pool, ...]], at: Any, pool: Pool) -> None:
    """``pool`` in the entry ``at``, in place of the pool of the same key if there is one: one assignment."""
    key = pool.key
    index[at] = (*(other for other in index.get(at, ()) if other.key != key), pool)


def _discard(index: dict[Any, tuple[Pool, ...]], at: Any, key: tuple[str, str]) -> None:
    kept = tuple(pool for pool in index.get(at, ()) if pool.key != key)
    if kept:
        index[at] = kept
    else:
        index.pop(at, None)


# --- 1 and 2: the other pools ------------------------------------------------------------------------------------

NAME = "metadata.name"
SECRET_NAME = "spec.connInfoSecretTarget.name"


def same_pool(pool: Pool, other: Pool) -> FieldError:
    """1: ``other`` already manages the Aiven pool ``pool`` would."""
    return error(ErrorType.DUPLICATE, NAME, f"Duplicate value: {go_quote(pool.name)}: ConnectionPool {other.shown} "
                 f"already manages the Aiven connection pool {go_quote(pool.name)} of project "
                 f"{go_quote(pool.project)}, service {go_quote(pool.service)}; deleting either would delete it under "
                 "the other")


def same_secret(pool: Pool, other: Pool) -> FieldError:
    """2: ``other`` already writes the Secret ``pool`` would."""
    assert pool.secret is not None
    return error(ErrorType.DUPLICATE, SECRET_NAME, f"Duplicate value: {go_quote(pool.secret)}: ConnectionPool "
                 f"{other.shown} already writes the Secret {pool.namespace}/{pool.secret}; the operator would fail "
                 "to reconcile this one")


def conflicts(pool: Pool, view: View) -> list[FieldError]:
    """What the other known pools make of ``pool``: 1 and 2, each naming the other object."""
    found = []
    same = view.with_identity(pool.identity)
    if same:  # usually empty (a CREATE) or the pool itself (an UPDATE)
        found += [same_pool(pool, other) for other in _others(same, pool)]
    writers = view.writing(pool.namespace, pool.secret) if pool.secret is not None else ()
    if writers:
        found += [same_secret(pool, other) for other in _others(writers, pool)]
    return found


def _others(pools: Iterable[Pool], pool: Pool) -> Iterator[Pool]:
    return (other for other in sorted(pools) if other.key != pool.key)


# --- 3 and 5: the Secrets ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owner:
    """A Secret's controller (its ownerReference with ``controller: true``)."""

    api_version: str
    kind: str
    namespace: str  # the Secret's: an owner reference names an object of the same namespace
    name: str

    @property
    def shown(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def is_pool(self, pool: Pool) -> bool:
        """Whether this is ``pool``: as controller-runtime tells a controller apart, by group, kind and name (the
        operator's SetControllerReference accepts an owner so named whatever its uid)."""
        return (self.api_version.split("/")[0] == connectionpool.GROUP and self.kind == connectionpool.KIND
                and self.name == pool.name)


class Secret(NamedTuple):
    """What is read of a Secret: its metadata only (the PartialObjectMetadata form of the API; never its data)."""

    namespace: str
    name: str
    controller: Owner | None


def secret_of(metadata: Any, namespace: str, name: str) -> Secret:
    """A Secret from its metadata (``PartialObjectMetadata.metadata``)."""
    controller = None
    owners = metadata.get("ownerReferences") if type(metadata) is dict else None
    for owner in owners if type(owners) is list else ():
        if type(owner) is dict and owner.get("controller") is True:
            controller = Owner(str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""), namespace,
                               str(owner.get("name") or ""))
            break
    return Secret(namespace, name, controller)


def foreign_secret(pool: Pool, secret: Secret | None, view: View | None = None) -> FieldError | None:
    """3: the Secret ``pool`` would write exists and is not controlled by ``pool``. A Secret controlled by another
    ConnectionPool that ``view`` knows to write it is rule 2's finding, already named: not reported twice."""
    if pool.secret is None or secret is None:
        return None
    controller = secret.controller
    if controller is None:
        whose = "has no controller"
    elif controller.is_pool(pool) or _written_by(controller, pool, view):
        return None
    else:
        whose = f"is controlled by {controller.shown}"
    return error(ErrorType.FORBIDDEN, SECRET_NAME, f"Forbidden: Secret {pool.namespace}/{pool.secret} already exists "
                 f"and {whose}; the operator would write this pool's keys into it")


def _written_by(controller: Owner, pool: Pool, view: View | None) -> bool:
    assert pool.secret is not None
    return view is not None and any(controller.is_pool(other) for other in view.writing(pool.namespace, pool.secret))


def missing_auth_secret(pool: Pool) -> str:
    """5: the warning for an ``authSecretRef.name`` that names no Secret."""
    return (f"spec.authSecretRef.name: Secret {pool.namespace}/{pool.auth_secret} not found; the operator cannot "
            "reconcile this ConnectionPool until it exists")
