"""``audit``'s integrity checks that read Secrets (:mod:`webhook.rules.integrity`, 3 and 5): for each stored pool, is
the Secret it writes controlled by another object, and does the Secret its ``authSecretRef`` names exist.

Each Secret is read once, by name and as metadata only (:meth:`webhook.kube.Connection.secret_metadata`: never its
data, and ``get`` is the only verb it needs), a few at a time. When the Secrets cannot be read (RBAC without ``get``
on Secrets, the apiserver gone), the checks are skipped with one warning and the audit goes on: what was read of the
pools is still judged, and nothing is reported that was not seen.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from webhook import kube
from webhook.rules import integrity
from webhook.rules.integrity import Pool
from webhook.tools.report.model import Result
from webhook.tools.verdicts import with_conflicts

# Lookups in flight at once: enough to hide a round trip on a large cluster, few enough that the apiserver's
# priority and fairness never has to queue an audit behind the controllers.
CONCURRENCY = 8
BATCH = 64 * CONCURRENCY

SecretKey = tuple[str, str]  # (namespace, name)


def read_secrets(connection: kube.Connection,
                 keys: Iterable[SecretKey]) -> tuple[dict[SecretKey, integrity.Secret | None], str | None]:
    """What is known of each Secret (None: there is none), and why the others could not be read (one line, or None).
    The first failure stops the lookups not yet sent: the next would fail the same way."""
    found: dict[SecretKey, integrity.Secret | None] = {}
    failures: list[kube.ClusterError] = []
    stop = threading.Event()

    def look(key: SecretKey) -> None:
        if stop.is_set():
            return
        try:
            metadata = connection.secret_metadata(*key)
        except kube.ClusterError as exc:
            stop.set()
            failures.append(exc)
            return
        found[key] = None if metadata is None else integrity.secret_of(metadata, *key)

    wanted = sorted(set(keys))
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as workers:
        # A batch at a time: the executor keeps a future per submitted call (100,000 of them is 100 MB).
        for start in range(0, len(wanted), BATCH):
            list(workers.map(look, wanted[start:start + BATCH]))
    return found, _skipped(failures[0]) if failures else None


def _skipped(exc: kube.ClusterError) -> str:
    need = " (the audit needs get on secrets)" if isinstance(exc, kube.Refused) and exc.code == 403 else ""
    return f"the checks of the Secrets the ConnectionPools name were skipped: {exc}{need}"


def check_secrets(connection: kube.Connection, results: list[Result], pools: Sequence[tuple[int, Pool]],
                  index: integrity.Index) -> str | None:
    """Rules 3 (a denial) and 5 (a warning) for each pool (index into ``results``, pool) not being deleted, ``index``
    holding them all; the warning that says the checks were skipped, or None."""
    live = [(at, pool) for at, pool in pools if not pool.deleting]
    found, skipped = read_secrets(connection, (key for _, pool in live for key in _wanted(pool)))
    for at, pool in live:
        written = (pool.namespace, pool.secret or "")
        if pool.secret is not None and written in found:
            foreign = integrity.foreign_secret(pool, found[written], index)
            if foreign is not None:
                results[at] = with_conflicts(results[at], [foreign])
        auth = (pool.namespace, pool.auth_secret or "")
        if pool.auth_secret and auth in found and found[auth] is None:
            results[at] = replace(results[at], warnings=(*results[at].warnings, integrity.missing_auth_secret(pool)))
    return skipped


def _wanted(pool: Pool) -> list[SecretKey]:
    return [(pool.namespace, name) for name in (pool.secret, pool.auth_secret) if name]
