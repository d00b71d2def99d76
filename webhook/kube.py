"""Connecting to a cluster as kubectl does: what ``audit`` and the server's view of the cluster share.

The official Kubernetes client does the work: kubeconfig parsing (``--kubeconfig``, ``--context``, ``KUBECONFIG``),
its auth plugins (tokens, client certificates, exec plugins, with their refreshes) and the in-cluster service
account; its HTTP client (urllib3, with the cluster's CA and the client certificate) sends the requests. What is ours
is the choice between in-cluster and kubeconfig, kubectl's default namespace, and the messages: one line, in
kubectl's words, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# (connect, read) seconds for one request.
REQUEST_TIMEOUT = (10.0, 60.0)
# The metadata-only form of an object, as client-go's metadata client asks for it: the apiserver answers a
# PartialObjectMetadata (name, namespace, uid, labels, annotations, owners...), never the object's data.
PARTIAL_OBJECT_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


class ClusterError(RuntimeError):
    """The cluster could not be read; the message is one line, for people."""


class Unreachable(ClusterError):
    """No answer from the server: refused, reset, timed out, or TLS that does not verify."""


class Refused(ClusterError):
    """The server answered with an error status (``code``: 403 when RBAC refused)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# Secret and namespace names are DNS-1123 subdomains and labels: anything else names no Secret (and is never put in
# a URL, where a ".." would name another resource).
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class Connection:
    """An API client, the server it talks to, and the namespace kubectl would use by default.

    In-cluster (the service account) when nothing says otherwise, as kubectl in a pod does: no ``kubeconfig`` or
    ``context`` given, ``KUBERNETES_SERVICE_HOST`` set, no ``KUBECONFIG`` and no ``~/.kube/config``.
    """

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None) -> None:
        configuration = client.Configuration()
        self.default_namespace = "default"
        kubeconfig = str(kubeconfig) if kubeconfig is not None else None
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
            raise ClusterError(f"cannot load the cluster configuration: {one_line(str(exc))}") from None
        except Exception as exc:
            raise ClusterError(f"cannot load the cluster configuration: {type(exc).__name__}: "
                               f"{one_line(str(exc))}") from None
        configuration.retries = 1
        # insecure-skip-tls-verify: urllib3 would warn on every request, with its source line; kubectl says nothing.
        # The caller says it once, in its own words (INSECURE).
        self.insecure = not configuration.verify_ssl
        if self.insecure:
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self.server: str = configuration.host
        self.client = client.ApiClient(configuration)

    def get(self, path: str, query: Sequence[tuple[str, str]] = (), *, accept: str = "application/json",
            timeout: float | tuple[float, float] = REQUEST_TIMEOUT) -> urllib3.BaseHTTPResponse:
        """``GET path?query`` with the client's credentials, whatever the status; the body is not read yet (a
        watch streams it). The caller reads it and releases the connection (``release_conn``), or closes it.
        Raises :class:`Unreachable` when no answer comes."""
        try:
            method, url, headers, body, post = self.client.param_serialize(
                "GET", path, query_params=list(query), header_params={"Accept": accept},
                auth_settings=["BearerToken"])
            answer = self.client.call_api(method, url, headers, body, post, _request_timeout=timeout)
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(connection_message(exc, self.server)) from None
        except ApiException as exc:  # the client's wrapping of a TLS failure (status 0)
            raise Unreachable(connection_message(exc, self.server)) from None
        except OSError as exc:
            raise Unreachable(connection_message(exc, self.server)) from None
        response: urllib3.BaseHTTPResponse = answer.response
        return response


    def secret_metadata(self, namespace: str, name: str,
                        timeout: float | tuple[float, float] = REQUEST_TIMEOUT) -> dict[str, Any] | None:
        """The metadata of Secret ``namespace/name`` (its PartialObjectMetadata: owners, labels, never the data), or
        None when there is no such Secret. Raises :class:`Unreachable`, :class:`Refused` (403: RBAC) or
        :class:`ClusterError` (an answer that is not the metadata asked for)."""
        if not (_LABEL.fullmatch(namespace) and len(namespace) <= 63 and _SUBDOMAIN.fullmatch(name)
                and len(name) <= 253):
            return None
        response = self.get(f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}",
                            accept=PARTIAL_OBJECT_METADATA, timeout=timeout)
        try:
            body = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(connection_message(exc, self.server)) from None
        finally:
            response.release_conn()
        if response.status == 404:
            return None
        if response.status != 200:
            raise Refused(response.status, api_message(response.status, response.reason or "", status_message(body),
                                                       self.server, f"get the Secret {namespace}/{name}"))
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or answer.get("kind") != "PartialObjectMetadata":
            raise ClusterError(f"the server {self.server} did not answer the metadata of Secret {namespace}/{name} "
                               "(PartialObjectMetadata) when asked for it")
        metadata = answer.get("metadata")
        return metadata if isinstance(metadata, dict) else {}


INSECURE = ("the kubeconfig skips TLS verification (insecure-skip-tls-verify): the server's certificate is not "
            "checked")


def status_message(body: bytes | str | None) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, on one line; "" when the body is not one."""
    try:
        status: Any = json.loads(body) if body else {}
    except (ValueError, TypeError):
        return ""
    return one_line(str(status.get("message") or "")) if isinstance(status, dict) else ""


def api_message(code: int, reason: str, message: str, server: str, action: str) -> str:
    """An HTTP error answer from the apiserver, as kubectl words it: its own Status message where it sent one (a
    403's names the user, verb and resource). ``action`` is what was refused, e.g. "list connectionpools.aiven.io"."""
    detail = f": {message}" if message else ""
    if code == 401:
        return f"Unauthorized: the server {server} rejected the credentials (401){detail}"
    if code == 403:
        return f"Forbidden (403): {message or f'the credentials may not {action}'}"
    return f"the server {server} answered {code} {one_line(reason)}{detail}"


def missing_resource(server: str, resource: str, kind: str, message: str = "") -> str:
    """A 404 for a whole resource (``connectionpools.aiven.io/v1alpha1``): its CRD is not installed. ``message`` is
    the apiserver's own, if it sent one."""
    detail = f": {message}" if message else ""
    return f"the server {server} has no resource {resource} (is the {kind} CRD installed?){detail}"


def connection_message(exc: BaseException, server: str) -> str:
    """No answer from ``server``, in kubectl's words."""
    reason = getattr(exc, "reason", None) or exc
    text = one_line(str(reason))
    host = urlsplit(server).netloc or server
    if isinstance(reason, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return f"Unable to connect to the server {host}: TLS: {text}"
    if "refused" in text.lower():
        return f"The connection to the server {host} was refused - did you specify the right host or port?"
    return f"Unable to connect to the server {host}: {text}"


def one_line(text: str) -> str:
    return " ".join(text.split())
