"""``connectionpool-webhook audit``: every ConnectionPool a cluster stores, and the verdict it would get if created now.

The cluster is read with the official Kubernetes Python client: kubeconfig parsing (``--kubeconfig``, ``--context``,
``KUBECONFIG``), its auth plugins (tokens, client certificates, exec plugins) and the in-cluster service account
are its job. Lists are read in pages (``limit``/``continue``); when a continue token expires mid-list (HTTP 410) the
list is read again in one piece, as client-go's pager does. Each object is judged by
:func:`webhook.tools.verdicts.judge`, the webhook's own defaulting and rules.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from webhook.rules import connectionpool
from webhook.rules.enforcement import Enforcement
from webhook.rules.ruleset import RuleSet
from webhook.tools.report.model import Problem, Report
from webhook.tools.verdicts import judge

PAGE_SIZE = 500
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# (connect, read) seconds for each request.
REQUEST_TIMEOUT = (10.0, 60.0)


class ClusterError(RuntimeError):
    """The cluster could not be read; the message is one line, for people."""


class Connection:
    """An API client and the namespace kubectl would use by default."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        configuration = client.Configuration()
        self.default_namespace = "default"
        use_in_cluster = (kubeconfig is None and context is None and "KUBERNETES_SERVICE_HOST" in os.environ
                          and not os.environ.get("KUBECONFIG")
                          and not Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)).exists())
        try:
            if use_in_cluster:
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
                if IN_CLUSTER_NAMESPACE.exists():
                    self.default_namespace = IN_CLUSTER_NAMESPACE.read_text().strip() or "default"
            else:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False)
                contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                    config_file=kubeconfig)
                chosen = active
                if context is not None:
                    chosen = next((c for c in contexts if c.get("name") == context), active)
                namespace = (chosen or {}).get("context", {}).get("namespace")
                if namespace:
                    self.default_namespace = namespace
        except ConfigException as exc:
            raise ClusterError(f"cannot load the cluster configuration: {_one_line(str(exc))}") from None
        except Exception as exc:
            raise ClusterError(f"cannot load the cluster configuration: {type(exc).__name__}: "
                               f"{_one_line(str(exc))}") from None
        configuration.retries = 1
        self.server = configuration.host
        self.api = client.CustomObjectsApi(client.ApiClient(configuration))


def pages(connection: Connection, namespace: str | None, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Every ConnectionPool in ``namespace`` (all namespaces for None), read page by page.

    If a continue token expires mid-list (410), the pages read so far are dropped and the list is read again in one
    request, as client-go's pager does (FullListIfExpired): a list is one consistent snapshot, never two mixed.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        try:
            page = _list(connection, namespace, page_size, token)
        except ApiException as exc:
            if exc.status == 410 and token:
                return list(_list(connection, namespace, None, None).get("items") or [])
            raise
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if not token:
            return items


def _list(connection: Connection, namespace: str | None, limit: int | None, token: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"_request_timeout": REQUEST_TIMEOUT}
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


def audit(rules: RuleSet, enforcement: Enforcement = Enforcement.DENY, *, namespace: str | None = None,
          all_namespaces: bool = False, kubeconfig: str | None = None, context: str | None = None,
          page_size: int = PAGE_SIZE) -> Report:
    """Judge every stored ConnectionPool; a cluster that cannot be read is a :class:`Problem` in the report."""
    report = Report("audit", rules, enforcement)
    try:
        connection = Connection(kubeconfig, context)
    except ClusterError as exc:
        report.problems.append(Problem(str(exc)))
        return report
    try:
        scope = None if all_namespaces else (namespace or connection.default_namespace)
        for obj in pages(connection, scope, page_size):
            if not isinstance(obj, dict):
                continue
            obj.setdefault("apiVersion", connectionpool.API_VERSION)
            obj.setdefault("kind", connectionpool.KIND)
            report.results.append(judge(obj, rules))
    except ClusterError as exc:
        report.problems.append(Problem(str(exc)))
    except ApiException as exc:
        report.problems.append(Problem(_api_message(exc, connection)))
    except urllib3.exceptions.HTTPError as exc:
        report.problems.append(Problem(_connection_message(exc, connection.server)))
    return report


def _api_message(exc: ApiException, connection: Connection) -> str:
    """The apiserver's own Status message where it sent one (it names the user, verb and resource)."""
    message = ""
    try:
        body = json.loads(exc.body) if exc.body else {}
        if isinstance(body, dict):
            message = str(body.get("message") or "")
    except (ValueError, TypeError):
        message = ""
    message = _one_line(message)
    where = f"{connection.server}"
    if exc.status == 401:
        return f"Unauthorized: the server {where} rejected the credentials (401){': ' + message if message else ''}"
    if exc.status == 403:
        return f"Forbidden (403): {message or 'the credentials may not list connectionpools.aiven.io'}"
    if exc.status == 404:
        return (f"the server {where} has no resource connectionpools.{connectionpool.GROUP}/{connectionpool.VERSION}"
                f" (is the ConnectionPool CRD installed?){': ' + message if message else ''}")
    return f"the server {where} answered {exc.status} {_one_line(exc.reason or '')}{': ' + message if message else ''}"


def _connection_message(exc: Exception, server: str) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = _one_line(str(reason))
    host = urlsplit(server).netloc or server
    if isinstance(reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return f"Unable to connect to the server {host}: TLS: {text}"
    if "refused" in text.lower():
        return f"The connection to the server {host} was refused - did you specify the right host or port?"
    return f"Unable to connect to the server {host}: {text}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
