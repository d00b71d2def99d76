"""Each audited namespace's enforcement mode, from its label ``connectionpool-webhook.io/enforcement``: what the
policy-report outputs grade a broken rule by (``fail`` where the webhook denies, ``warn`` where it warns or counts).

The label is read as the chart's webhook entries read it (``docs/adoption.md``): ``deny``, ``warn`` or ``dryrun``
set the namespace's mode; no label, or another value, leaves it to the default (``--enforcement``). Reading
Namespaces needs ``list`` (``--all-namespaces``: one list, selected by the label) or ``get`` (one namespace); when
the credentials may not, every namespace takes the default and the caller says so once.
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from webhook import kube
from webhook.kube import ClusterError
from webhook.rules.enforcement import Enforcement

LABEL = "connectionpool-webhook.io/enforcement"
MODES = frozenset(mode.value for mode in Enforcement)
PAGE_SIZE = 500
WHAT = f"cannot read the Namespaces' {LABEL} labels"


def read_modes(connection: kube.Connection, namespace: str | None) -> tuple[dict[str, Enforcement], str | None]:
    """The labelled namespaces' modes (of every namespace for None, else of ``namespace``), and a one-line warning
    when the credentials may not read Namespaces (the modes are then empty). Any other failure raises
    :class:`ClusterError`: a report graded by guesswork is not written."""
    core = client.CoreV1Api(connection.client)
    try:
        labelled = _labelled(core, namespace)
    except ApiException as exc:
        message = kube.status_message(exc.body)
        if exc.status == 403:
            return {}, (f"{WHAT}: Forbidden (403){': ' + message if message else ''}; every namespace is graded by "
                        "--enforcement")
        raise ClusterError(f"{WHAT}: " + kube.api_message(exc.status or 0, exc.reason or "", message,
                                                          connection.server, "list namespaces")) from None
    except urllib3.exceptions.HTTPError as exc:
        raise ClusterError(f"{WHAT}: {kube.connection_message(exc, connection.server)}") from None
    return {name: Enforcement(value) for name, value in labelled if value in MODES}, None


def _labelled(core: client.CoreV1Api, namespace: str | None) -> list[tuple[str, str]]:
    """(name, label value) of the namespaces that carry the label."""
    if namespace is not None:
        try:
            found: Any = core.read_namespace(namespace, _request_timeout=kube.REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:  # audited by name, and gone: nothing to grade
                return []
            raise
        value = (found.metadata.labels or {}).get(LABEL)
        return [(namespace, value)] if value is not None else []
    out: list[tuple[str, str]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"label_selector": LABEL, "limit": PAGE_SIZE, "_request_timeout": kube.REQUEST_TIMEOUT}
        if token:
            kwargs["_continue"] = token
        try:
            page: Any = core.list_namespace(**kwargs)
        except ApiException as exc:
            if exc.status == 410 and token:  # the continue token expired: read the list again, in one piece
                return _labelled_at_once(core)
            raise
        out.extend((item.metadata.name, (item.metadata.labels or {}).get(LABEL, "")) for item in page.items or [])
        token = page.metadata._continue if page.metadata else None
        if not token:
            return out


def _labelled_at_once(core: client.CoreV1Api) -> list[tuple[str, str]]:
    found: Any = core.list_namespace(label_selector=LABEL, _request_timeout=kube.REQUEST_TIMEOUT)
    return [(item.metadata.name, (item.metadata.labels or {}).get(LABEL, "")) for item in found.items or []]

