"""``audit --apply``: the audit's reports written to the cluster, where kubectl, Policy Reporter and the other report
consumers find them.

Within the audited scope (one namespace, or all): our reports (labelled ``app.kubernetes.io/managed-by:
connectionpool-webhook``) are listed first; then each namespace's report is created, or replaced with the
``resourceVersion`` it was read at (a report changed meanwhile is read again, never overwritten blind), or left
alone when only its timestamps would change, so that a run that finds nothing new writes nothing; last, our reports
in namespaces that no longer hold a ConnectionPool are deleted. A report of the same name that is not labelled ours
is never touched. Every failure is one line, the apiserver's own message where it sent one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from webhook import kube
from webhook.tools.audit import Connection
from webhook.tools.report.policyreport import ANNOTATIONS, LABELS, MANAGED_BY, Kind

PAGE_SIZE = 100  # reports weigh up to 1 MiB each: a page of them is what the list holds in memory at once
SELECTOR = ",".join(f"{key}={value}" for key, value in LABELS.items())
REQUEST_TIMEOUT = kube.REQUEST_TIMEOUT  # (connect, read) seconds for each request, as every read of the cluster


class Stop(Exception):
    """A failure after which writing more is pointless (no CRD, no access, no connection); the message is one line."""


@dataclass
class Applied:
    """What ``--apply`` did: kubectl-like lines for stdout, one-line problems for stderr."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def apply(connection: Connection, kind: Kind, documents: list[dict[str, Any]], namespace: str | None) -> Applied:
    """Write ``documents`` (one per namespace, from :func:`webhook.tools.report.policyreport.documents`) and delete
    our reports of namespaces in scope (``namespace``, or all for None) that have none now."""
    writer = _Writer(connection, kind)
    try:
        existing = writer.ours(namespace)
        for document in documents:
            writer.write(document, existing.get(_key(document)))
        written = {_key(document) for document in documents}
        for key in sorted(set(existing) - written):
            writer.delete(*key)
    except Stop as exc:
        writer.applied.problems.append(str(exc))
    return writer.applied


def digest(document: dict[str, Any]) -> str:
    """What a report says, without when it was said: two runs that found the same give the same digest."""
    metadata = document.get("metadata") or {}
    said = {
        "labels": {k: v for k, v in (metadata.get("labels") or {}).items() if k in LABELS},
        "annotations": {k: v for k, v in (metadata.get("annotations") or {}).items() if k.startswith(ANNOTATIONS)},
        **{k: v for k, v in document.items() if k not in ("metadata", "results", "apiVersion", "kind")},
        "results": [{k: v for k, v in result.items() if k != "timestamp"} for result in document.get("results") or []],
    }
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


def _key(document: dict[str, Any]) -> tuple[str, str]:
    return document["metadata"]["namespace"], document["metadata"]["name"]


class _Writer:
    def __init__(self, connection: Connection, kind: Kind) -> None:
        self.api = connection.api
        self.server = connection.server
        self.kind = kind
        self.applied = Applied()

    def ours(self, namespace: str | None) -> dict[tuple[str, str], tuple[str, str]]:
        """Our reports in scope: (namespace, name) -> (resourceVersion, digest)."""
        k = self.kind
        found: dict[tuple[str, str], tuple[str, str]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"label_selector": SELECTOR, "limit": PAGE_SIZE,
                                      "_request_timeout": REQUEST_TIMEOUT}
            if token:
                kwargs["_continue"] = token
            page: Any
            try:
                if namespace is None:
                    page = self.api.list_cluster_custom_object(k.group, k.version, k.plural, **kwargs)
                else:
                    page = self.api.list_namespaced_custom_object(k.group, k.version, namespace, k.plural, **kwargs)
            except ApiException as exc:
                if exc.status == 410 and token:  # the continue token expired: start over
                    found, token = {}, None
                    continue
                raise Stop(self._failed(f"list {k.resource}", exc)) from None
            except urllib3.exceptions.HTTPError as exc:
                raise Stop(self._unreachable(exc)) from None
            for item in page.get("items") or []:
                metadata = item.get("metadata") or {}
                if all((metadata.get("labels") or {}).get(key) == value for key, value in LABELS.items()):
                    found[(metadata.get("namespace", ""), metadata.get("name", ""))] = (
                        str(metadata.get("resourceVersion", "")), digest(item))
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return found

    def write(self, document: dict[str, Any], existing: tuple[str, str] | None) -> None:
        namespace, name = _key(document)
        if existing is None:
            if self._create(document):
                return
            existing = self._read_ours(namespace, name)  # made meanwhile, by another run
            if existing is None:
                return
        version, said = existing
        if said == digest(document):
            self._line(namespace, name, "unchanged")
            return
        for attempt in range(2):
            body = {**document, "metadata": {**document["metadata"], "resourceVersion": version}}
            try:
                self.api.replace_namespaced_custom_object(self.kind.group, self.kind.version, namespace,
                                                          self.kind.plural, name, body,
                                                          _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 409 and attempt == 0:  # changed since it was read: read it again, once
                    fresh = self._read_ours(namespace, name)
                    if fresh is None:
                        return
                    version = fresh[0]
                    continue
                self._problem(f"replace {self._shown(namespace, name)}", exc)
                return
            except urllib3.exceptions.HTTPError as exc:
                raise Stop(self._unreachable(exc)) from None
            self._line(namespace, name, "replaced")
            return

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.api.delete_namespaced_custom_object(self.kind.group, self.kind.version, namespace, self.kind.plural,
                                                     name, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:  # gone already: what we wanted
                self._problem(f"delete {self._shown(namespace, name)}", exc)
            return
        except urllib3.exceptions.HTTPError as exc:
            raise Stop(self._unreachable(exc)) from None
        self._line(namespace, name, "deleted")

    def _create(self, document: dict[str, Any]) -> bool:
        """True when created or failed for good; False when one of that name exists already."""
        namespace, name = _key(document)
        try:
            self.api.create_namespaced_custom_object(self.kind.group, self.kind.version, namespace, self.kind.plural,
                                                     document, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 409:
                return False
            self._problem(f"create {self._shown(namespace, name)}", exc)
            return True
        except urllib3.exceptions.HTTPError as exc:
            raise Stop(self._unreachable(exc)) from None
        self._line(namespace, name, "created")
        return True

    def _read_ours(self, namespace: str, name: str) -> tuple[str, str] | None:
        """(resourceVersion, digest) of the report there, when it is ours; a problem and None otherwise."""
        found: Any
        try:
            found = self.api.get_namespaced_custom_object(self.kind.group, self.kind.version, namespace,
                                                          self.kind.plural, name, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            self._problem(f"read {self._shown(namespace, name)}", exc)
            return None
        except urllib3.exceptions.HTTPError as exc:
            raise Stop(self._unreachable(exc)) from None
        metadata = found.get("metadata") or {}
        if (metadata.get("labels") or {}).get(MANAGED_BY) != LABELS[MANAGED_BY]:
            self.applied.problems.append(
                f"the {self.kind.kind} {namespace}/{name} exists and is not ours (label {MANAGED_BY}="
                f"{LABELS[MANAGED_BY]}): left alone")
            return None
        return str(metadata.get("resourceVersion", "")), digest(found)

    def _line(self, namespace: str, name: str, what: str) -> None:
        self.applied.lines.append(f"{self.kind.shown}/{name} {what} in namespace {namespace}")

    def _shown(self, namespace: str, name: str) -> str:
        return f"{self.kind.kind} {namespace}/{name}"

    def _problem(self, action: str, exc: ApiException) -> None:
        if exc.status == 404 and not _names_an_object(exc):
            raise Stop(self._failed(action, exc)) from None
        if exc.status in (401, 403):  # the next request would be refused the same way
            raise Stop(self._failed(action, exc)) from None
        self.applied.problems.append(self._failed(action, exc))

    def _failed(self, action: str, exc: ApiException) -> str:
        message = kube.status_message(exc.body)
        if exc.status == 404 and not _names_an_object(exc):
            return f"cannot {action}: " + kube.missing_resource(
                self.server, f"{self.kind.resource}/{self.kind.version}", self.kind.kind, message)
        return f"cannot {action}: " + kube.api_message(exc.status or 0, exc.reason or "", message, self.server, action)

    def _unreachable(self, exc: Exception) -> str:
        return f"cannot write the {self.kind.kind}s: {kube.connection_message(exc, self.server)}"


def _names_an_object(exc: ApiException) -> bool:
    """A 404 about one object (its Status names it), not about a resource the server does not have."""
    try:
        details = json.loads(exc.body or "{}").get("details")
    except (ValueError, TypeError, AttributeError):
        return False
    return isinstance(details, dict) and bool(details.get("name"))
