"""The integrity rules (:mod:`webhook.rules.integrity`) at admission: what the server asks of its view of the cluster
for one request, and how the answers become causes and warnings.

The other ConnectionPools come from a watch-backed index, read on the spot; the Secrets a request names are read one
by one, by name, as metadata only, when the request needs them (a CREATE, or an UPDATE that changes which Secret it
writes or reads). Nothing here ever denies because the cluster could not be read: the checks are skipped for that
request, with a warning that says so and a metric that counts it, and no request waits for the cluster longer than
the view's ``timeout``. UPDATEs that leave the identity and the Secrets as they were are not checked at all, so
clusters that already hold conflicts keep working (``audit`` finds them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from webhook.rules import integrity
from webhook.rules.fielderrors import FieldError
from webhook.rules.integrity import Pool, Secret, View
from webhook.serve import metrics

SKIPPED = "cluster checks skipped: "


class Unreadable(Exception):
    """The cluster could not be read for this request. ``reason`` is a metric label (``not_synced``,
    ``unreachable``, ``forbidden``, ``timeout``, ``error``), the message what the warning says."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Cluster(Protocol):
    """The server's view of the cluster (:class:`webhook.serve.clusterview.ClusterView`)."""

    @property
    def pools(self) -> View: ...

    @property
    def timeout(self) -> float: ...

    def unusable(self) -> Unreadable | None:
        """Why the view of the ConnectionPools cannot be used now (not synced yet, its watch failing), or None."""

    async def secret(self, namespace: str, name: str) -> Secret | None:
        """The Secret's metadata, None when it does not exist; raises :class:`Unreadable`."""


class Findings:
    """What the cluster checks found for one request: causes that deny (in deny mode), and warnings."""

    __slots__ = ("errors", "warnings")

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.warnings: list[str] = []

    def skipped(self, unreadable: Unreadable) -> None:
        metrics.CLUSTER_CHECKS_SKIPPED.labels(unreadable.reason).inc()
        self.warnings.append(SKIPPED + str(unreadable))


def unchanged(obj: Any, old: Any) -> bool:
    """Whether an UPDATE leaves everything the checks look at as it was: the name, and the spec fields that make the
    identity, the Secret written and the Secret read. The usual UPDATE, so written flat (no loop, no pool built)."""
    if type(obj) is not dict or type(old) is not dict:
        return False
    spec, old_spec = obj.get("spec"), old.get("spec")
    metadata, old_metadata = obj.get("metadata"), old.get("metadata")
    if type(spec) is not dict or type(old_spec) is not dict or type(metadata) is not dict or type(
            old_metadata) is not dict:
        return False
    now, was = spec.get, old_spec.get
    return (metadata.get("name") == old_metadata.get("name") and now("project") == was("project")
            and now("serviceName") == was("serviceName") and now("connInfoSecretTarget") == was("connInfoSecretTarget")
            and now("connInfoSecretTargetDisabled") == was("connInfoSecretTargetDisabled")
            and now("authSecretRef") == was("authSecretRef"))


def check(cluster: Cluster, pool: Pool | None, old: Pool | None) -> tuple[Findings | None, Awaitable[None] | None]:
    """The checks of a CREATE (``old`` None) or an UPDATE of ``pool``: what the view says at once (None: nothing),
    and the Secret lookups still to make (an awaitable that adds what they find to the findings), if any."""
    if pool is None:  # no identity to read: the schema rules judge the object
        return None, None
    identity_changed = old is None or old.identity != pool.identity
    secret_changed = old is None or (old.namespace, old.secret) != (pool.namespace, pool.secret)
    auth_changed = old is None or old.auth_secret != pool.auth_secret
    if not (identity_changed or secret_changed or auth_changed):
        return None, None
    unusable = cluster.unusable()
    if unusable is not None:
        findings = Findings()
        findings.skipped(unusable)
        return findings, None
    found = integrity.conflicts(pool, cluster.pools)
    wants_secret = secret_changed and pool.secret is not None
    wants_auth = auth_changed and pool.auth_secret is not None
    if not (found or wants_secret or wants_auth):
        return None, None  # the usual CREATE of a pool that writes no Secret and names none: nothing more to do
    findings = Findings()
    findings.errors += [e for e in found if (e.field == integrity.NAME and identity_changed)
                        or (e.field == integrity.SECRET_NAME and secret_changed)]
    lookups = []
    if wants_secret:
        lookups.append(_target(cluster, pool, findings))
    if wants_auth:
        lookups.append(_auth(cluster, pool, findings))
    if not lookups:
        return findings, None
    return findings, _bounded(cluster, findings, lookups)


async def _bounded(cluster: Cluster, findings: Findings, lookups: Sequence[Awaitable[None]]) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*lookups), cluster.timeout)
    except TimeoutError:
        findings.skipped(Unreadable("timeout", f"the Secrets were not read within {cluster.timeout:g}s"))
    except Unreadable as unreadable:
        findings.skipped(unreadable)


async def _target(cluster: Cluster, pool: Pool, findings: Findings) -> None:
    assert pool.secret is not None
    foreign = integrity.foreign_secret(pool, await cluster.secret(pool.namespace, pool.secret), cluster.pools)
    if foreign is not None:
        findings.errors.append(foreign)


async def _auth(cluster: Cluster, pool: Pool, findings: Findings) -> None:
    assert pool.auth_secret is not None
    if await cluster.secret(pool.namespace, pool.auth_secret) is None:
        findings.warnings.append(integrity.missing_auth_secret(pool))
