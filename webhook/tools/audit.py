"""``connectionpool-webhook audit``: every ConnectionPool a cluster stores, and the verdict it would get if created now.

The cluster is read with the official Kubernetes Python client, connected as kubectl would be
(:mod:`webhook.kube`). Lists are read in pages (``limit``/``continue``); when a continue token expires mid-list
(HTTP 410) the list is read again in one piece, as client-go's pager does. Each object is judged by
:func:`webhook.tools.verdicts.judge`, the webhook's own defaulting and rules; then the objects are judged
against each other and against the Secrets they name (the integrity rules 1, 2, 3 and 5), the net that catches what
admission let through (two conflicting creates at the same instant, objects from before the webhook).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webhook import kube
from webhook.kube import ClusterError
from webhook.rules import connectionpool, integrity
from webhook.rules.enforcement import Enforcement
from webhook.rules.integrity import Pool
from webhook.rules.ruleset import RuleSet
from webhook.tools.report.model import Problem, Report
from webhook.tools.secret_checks import check_secrets
from webhook.tools.verdicts import cross_check, judge

PAGE_SIZE = 500


class Connection(kube.Connection):
    """A connection to the cluster (:class:`webhook.kube.Connection`) with the API of custom objects."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        super().__init__(kubeconfig, context)
        self.api = client.CustomObjectsApi(self.client)


class _Expired(Exception):
    """A continue token expired mid-list (410): the pages read so far are from a snapshot that cannot be finished."""


def pages(connection: Connection, namespace: str | None, page_size: int | None) -> Iterator[list[dict[str, Any]]]:
    """The ConnectionPools of ``namespace`` (all namespaces for None), a page at a time, so that an audit of a large
    cluster holds one page of objects, not all of them; ``page_size`` None: the whole list in one request.
    Raises :class:`_Expired` when a continue token expires."""
    token: str | None = None
    while True:
        try:
            page = _list(connection, namespace, page_size, token)
        except ApiException as exc:
            if exc.status == 410 and token:
                raise _Expired from None
            raise
        yield [obj for obj in page.get("items") or [] if isinstance(obj, dict)]
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return


def _list(connection: Connection, namespace: str | None, limit: int | None, token: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"_request_timeout": kube.REQUEST_TIMEOUT}
    if limit:
        kwargs["limit"] = limit
    if token:
        kwargs["_continue"] = token
    group, version, plural = connectionpool.GROUP, connectionpool.VERSION, connectionpool.RESOURCE
    if namespace is None:
        result = connection.api.list_cluster_custom_object(group, version, plural, **kwargs)
    else:
        result = connection.api.list_namespaced_custom_object(group, version, namespace, plural, **kwargs)
    if not isinstance(result, dict):
        raise ClusterError("the server's answer to a list was not a JSON object")
    return result


@dataclass(slots=True)
class Audit:
    """One audit: its report, and the connection and scope it read (None: it could not connect), which the
    policy-report outputs write with."""

    report: Report
    connection: Connection | None = None
    scope: str | None = None


def audit(rules: RuleSet, enforcement: Enforcement = Enforcement.DENY, *, namespace: str | None = None,
          all_namespaces: bool = False, kubeconfig: str | None = None, context: str | None = None,
          page_size: int = PAGE_SIZE, secret_checks: bool = True) -> Audit:
    """Judge every stored ConnectionPool, each alone and then against the others (the integrity rules); a cluster
    that cannot be read is a :class:`Problem` in the report, Secrets that cannot be read a note."""
    done = Audit(Report("audit", rules, enforcement))
    report = done.report
    try:
        done.connection = connection = Connection(kubeconfig, context)
    except ClusterError as exc:
        report.problems.append(Problem(str(exc)))
        return done
    if connection.insecure:
        report.notes.append(kube.INSECURE)
    done.scope = None if all_namespaces else (namespace or connection.default_namespace)
    pools: list[tuple[str, int, Pool]] = []
    try:
        try:
            _judge_all(report, pools, pages(connection, done.scope, page_size))
        except _Expired:
            # As client-go's pager does (FullListIfExpired): what was read is dropped and the list read again in one
            # request; a list is one consistent snapshot, never two mixed.
            report.results.clear()
            pools.clear()
            _judge_all(report, pools, pages(connection, done.scope, None))
    except ClusterError as exc:
        report.problems.append(Problem(str(exc)))
    except ApiException as exc:
        report.problems.append(Problem(_api_message(exc, connection)))
    except urllib3.exceptions.HTTPError as exc:
        report.problems.append(Problem(kube.connection_message(exc, connection.server)))
    if report.problems:
        report.results.clear()  # what a list that failed part way read is no snapshot of the cluster
        return done
    # Oldest first, as the objects came to be: each conflict is reported once, on the later object.
    in_order = [(at, pool) for _, at, pool in sorted(pools, key=lambda p: (p[0], p[2].namespace, p[2].name))]
    index = cross_check(report.results, in_order)
    if secret_checks:
        skipped = check_secrets(connection, report.results, in_order, index)
        if skipped:
            report.notes.append(skipped)
    return done


def _judge_all(report: Report, pools: list[tuple[str, int, Pool]], read: Iterator[list[dict[str, Any]]]) -> None:
    """Each object alone as it is read, into ``report``; what the integrity rules need of it into ``pools``."""
    for page in read:
        for obj in page:
            obj.setdefault("apiVersion", connectionpool.API_VERSION)
            obj.setdefault("kind", connectionpool.KIND)
            report.results.append(judge(obj, report.rules))
            pool = integrity.pool_of(obj)
            if pool is not None:
                pools.append((pool.created, len(report.results) - 1, pool))


def _api_message(exc: ApiException, connection: Connection) -> str:
    """The apiserver's own Status message where it sent one (it names the user, verb and resource)."""
    message = kube.status_message(exc.body)
    if exc.status == 404:
        return kube.missing_resource(connection.server, f"{connectionpool.RESOURCE}.{connectionpool.GROUP}/"
                                     f"{connectionpool.VERSION}", connectionpool.KIND, message)
    return kube.api_message(exc.status or 0, exc.reason or "", message, connection.server,
                            f"list connectionpools.{connectionpool.GROUP}")
