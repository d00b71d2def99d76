"""The Helm chart, rendered and linted by the real Helm engine, checked against Kubernetes schemas and our server."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.support.chart_render import (
    CHART,
    CRD_KINDS,
    NAMESPACE,
    RELEASE,
    Rendered,
    lint_findings,
    render,
    secret_pem,
    validate_values,
)
from tests.support.commands import make_certs
from tests.support.https import Client, free_port
from webhook import certs
from webhook.serve import handlers
from webhook.serve.app import create_app

pytestmark = [pytest.mark.helm]

FULLNAME = f"{RELEASE}-connectionpool-webhook"
SERVICE_HOST = f"{FULLNAME}.{NAMESPACE}.svc"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), a middle one and the newest with schemas.
KUBE_VERSIONS = ["1.28", "1.30", "1.33", kubernetes_validate.utils.latest_version()]
CA_PEM = certs.create_ca("test-user-ca").cert_pem().decode()

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "cert-manager": {"certManager": {"enabled": True}},
    "cert-manager-issuer": {"certManager": {"enabled": True, "issuerRef": {
        "name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}},
    "existing-secret": {"tls": {"existingSecret": "my-webhook-tls", "caBundle": CA_PEM}},
    "url": {"webhook": {"url": "https://host.docker.internal:8443/"}, "tls": {"caBundle": CA_PEM}},
    "host-network": {"hostNetwork": True, "server": {"port": 10250}},
    "everything": {
        "replicaCount": 3,
        "priorityClassName": "system-cluster-critical",
        "commonLabels": {"cost-center": "db-42"},
        "image": {"digest": "sha256:" + "a" * 64, "pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "regcred"}],
        "podAnnotations": {"example.com/owner": "platform"},
        "podLabels": {"team": "platform"},
        "nodeSelector": {"kubernetes.io/os": "linux", "node-role.example.com/infra": "true"},
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway"}],
        "extraEnv": [{"name": "EXTRA", "value": "1"}],
        "extraArgs": ["--request-timeout", "5"],
        "server": {"logLevel": "debug", "logFormat": "text", "workers": 2},
        "terminationGracePeriodSeconds": 60,
        "serviceAccount": {"annotations": {"example.com/sa": "x"}},
        "service": {"annotations": {"example.com/svc": "x"}, "labels": {"exposed": "no"}},
        "metrics": {"port": 9090},
        "networkPolicy": {
            "enabled": True,
            "ingressFrom": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
            "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        },
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "podDisruptionBudget": {"maxUnavailable": 1},
        "tls": {"clientCA": {"configMap": "apiserver-client-ca", "key": "client-ca.pem"}},
        "webhook": {
            "timeoutSeconds": 3,
            "annotations": {"example.com/reviewed": "yes"},
            "namespaceSelector": {
                "matchLabels": {"aiven.io/managed": "true"},
                "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["sandbox"]}],
            },
            "objectSelector": {"matchExpressions": [{"key": "skip-webhook", "operator": "DoesNotExist"}]},
            "matchConditions": [{"name": "not-ci-bot",
                                 "expression": "request.userInfo.username != 'system:serviceaccount:ci:bot'"}],
            "mutating": {"failurePolicy": "Ignore", "reinvocationPolicy": "IfNeeded"},
        },
    },
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {name: render(values) for name, values in VALUE_SETS.items()}


def load_cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s key made ``cert``'s signature (raises nothing; False on a mismatch)."""
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            raise AssertionError(f"unexpected CA key {type(key)}")
    except Exception:
        return False
    return True


def dns_sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)


# --- Helm's own checks ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict(name: str) -> None:
    assert lint_findings(VALUE_SETS[name]) == []


@pytest.mark.parametrize("kube_version", ["v1.28.0", "v1.33.0"])
def test_lint_strict_on_supported_kubernetes_versions(kube_version: str) -> None:
    assert lint_findings(VALUE_SETS["everything"], kube_version=kube_version) == []


def test_lint_reports_schema_violations() -> None:
    findings = lint_findings({"webhook": {"timeoutSeconds": 99}})
    assert any("timeoutSeconds" in f for f in findings), findings


# --- Kubernetes schemas --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", VALUE_SETS)
def test_builtin_objects_match_kubernetes_schemas(rendered: dict[str, Rendered], name: str,
                                                   kube_version: str) -> None:
    objects = rendered[name].objects
    builtin = [o for o in objects if o["kind"] not in CRD_KINDS]
    assert builtin, "nothing rendered"
    for obj in builtin:
        # strict: unknown fields are errors, as with `kubectl apply --validate=strict`.
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_schema_validation_catches_mistakes(rendered: dict[str, Rendered]) -> None:
    """The validation above is only worth something if a wrong field fails it."""
    deployment = copy.deepcopy(rendered["defaults"].one("Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbes"] = container.pop("readinessProbe")  # a typo: unknown in strict mode
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.30", strict=True)
    service = copy.deepcopy(rendered["defaults"].one("Service"))
    service["spec"]["ports"][0]["port"] = "443"  # a string where an integer belongs
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, "1.30", strict=True)
    hook = copy.deepcopy(rendered["defaults"].one("ValidatingWebhookConfiguration"))
    hook["webhooks"][0]["reinvocationPolicy"] = "Never"  # mutating-only field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hook, "1.30", strict=True)


# --- values.schema.json and template guards ------------------------------------------------------------------------

def test_default_values_pass_the_schema() -> None:
    for values in VALUE_SETS.values():
        validate_values(values)


@pytest.mark.parametrize(("values", "where"), [
    ({"webhook": {"timeoutSeconds": 99}}, "/webhook/timeoutSeconds"),
    ({"webhook": {"timeoutSeconds": 0}}, "/webhook/timeoutSeconds"),
    ({"webhook": {"validating": {"failurePolicy": "Maybe"}}}, "/webhook/validating/failurePolicy"),
    ({"webhook": {"mutating": {"reinvocationPolicy": "Always"}}}, "/webhook/mutating/reinvocationPolicy"),
    ({"webhook": {"validating": {"name": "validate"}}}, "/webhook/validating/name"),
    ({"webhook": {"url": "http://insecure.example.com"}}, "/webhook/url"),
    ({"replicaCount": "two"}, "/replicaCount"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"server": {"port": 70000}}, "/server/port"),
    ({"server": {"logLevel": "verbose"}}, "/server/logLevel"),
    ({"hostNetwrok": True}, "hostNetwrok"),
    ({"podDisruptionBudget": {"minAvailable": "half"}}, "/podDisruptionBudget/minAvailable"),
    ({"certManager": {"duration": "one year"}}, "/certManager/duration"),
    ({"tls": {"clientCA": {"configMap": "Client CA"}}}, "/tls/clientCA/configMap"),
    ({"tls": {"clientCA": {"configMap": "ca", "key": "../ca.crt"}}}, "/tls/clientCA/key"),
])
def test_schema_rejects_bad_values(values: dict[str, Any], where: str) -> None:
    with pytest.raises(helm.HelmValuesError) as exc:
        validate_values(values)
    assert where in str(exc.value)
    with pytest.raises(helm.HelmValuesError):  # and an install with them stops before any template runs
        render(values)


@pytest.mark.parametrize(("values", "message"), [
    ({"certManager": {"enabled": True}, "tls": {"existingSecret": "x", "caBundle": CA_PEM}}, "set only one"),
    ({"tls": {"existingSecret": "x"}}, "tls.existingSecret needs tls.caBundle"),
    ({"terminationGracePeriodSeconds": 30}, "terminationGracePeriodSeconds (30) must exceed"),
])
def test_contradictory_values_fail_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as exc:
        render(values)
    assert message in str(exc.value)


# --- The webhooks match the server ---------------------------------------------------------------------------------

def server_get_routes() -> set[str]:
    api = create_app().app
    return {route.path for route in api.routes if "GET" in getattr(route, "methods", set())}


@pytest.mark.parametrize("name", ["defaults", "host-network", "everything"])
def test_webhooks_ports_and_probes_match_the_server(rendered: dict[str, Rendered], name: str) -> None:
    out = rendered[name]
    values = VALUE_SETS[name]
    service = out.one("Service")
    container = out.deployment_container()
    env = out.env()
    hooks = out.webhooks()

    paths = {hook["clientConfig"]["service"]["path"] for hook in out.all_webhooks()}
    assert paths == set(handlers.webhooks())
    assert hooks["ValidatingWebhookConfiguration"]["clientConfig"]["service"]["path"] == "/validate"
    assert hooks["MutatingWebhookConfiguration"]["clientConfig"]["service"]["path"] == "/mutate"
    for hook in hooks.values():
        ref = hook["clientConfig"]["service"]
        assert (ref["name"], ref["namespace"]) == (service["metadata"]["name"], NAMESPACE)
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == ref["port"]]
        assert ref["port"] == 443
        assert port["targetPort"] == "https"
        assert hook["rules"] == [{"apiGroups": ["aiven.io"], "apiVersions": ["v1alpha1"],
                                  "resources": ["connectionpools"], "operations": ["CREATE", "UPDATE"],
                                  "scope": "Namespaced"}]
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        assert hook["matchPolicy"] == "Equivalent"
        assert 1 <= hook["timeoutSeconds"] <= 30
        assert hook["name"].endswith(".connectionpool-webhook.io")
    assert hooks["ValidatingWebhookConfiguration"]["failurePolicy"] == "Fail"

    (https,) = [p for p in container["ports"] if p["name"] == "https"]
    expected_port = values.get("server", {}).get("port", 8443)
    assert https["containerPort"] == expected_port == int(env["WEBHOOK_PORT"])
    assert env["WEBHOOK_HOST"] == "0.0.0.0"  # the server's own default is loopback
    assert env["WEBHOOK_TLS_CERT"] == "/tls/tls.crt" and env["WEBHOOK_TLS_KEY"] == "/tls/tls.key"
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
    assert mount["mountPath"] == "/tls" and mount["readOnly"] is True and "subPath" not in mount

    routes = server_get_routes()
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container[probe]["httpGet"]
        assert get == {"path": path, "port": "https", "scheme": "HTTPS"}
        assert path in routes


@pytest.mark.parametrize("name", ["defaults", "everything"])
def test_env_names_are_server_settings(rendered: dict[str, Rendered], name: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from webhook.cli import serve_settings  # noqa: PLC0415
    from webhook.serve.settings import Settings  # noqa: PLC0415

    known = {Settings.env_name(field): field for field in Settings.model_fields}
    env = rendered[name].env()
    ours = {name for name in env if name.startswith("WEBHOOK_")}
    assert ours <= set(known), ours - set(known)
    # The values, read as `connectionpool-webhook serve` reads them in the container (a bad one is a usage error).
    for variable in os.environ:
        if variable.startswith("WEBHOOK_"):
            monkeypatch.delenv(variable)
    for variable in ours:
        monkeypatch.setenv(variable, env[variable])
    settings = serve_settings(rendered[name].deployment_container().get("args", []))
    for variable in ours & set(known):
        assert str(getattr(settings, known[variable])) not in ("", "None"), variable
    assert settings.port == int(env["WEBHOOK_PORT"]) and settings.enforcement.value == env["WEBHOOK_ENFORCEMENT"]
    assert settings.cluster_checks is True and settings.cluster_timeout == float(env["WEBHOOK_CLUSTER_TIMEOUT"])
    if name == "everything":
        assert settings.metrics_port == 9090
        assert env["EXTRA"] == "1"
    if "cluster_checks" in Settings.model_fields:
        assert settings.cluster_checks is True and settings.cluster_timeout == 1.0


# --- TLS ------------------------------------------------------------------------------------------------------------

def test_generated_ca_signed_the_serving_certificate(rendered: dict[str, Rendered]) -> None:
    out = rendered["defaults"]
    serving = out.one("Secret", f"{FULLNAME}-tls")
    ca_secret = out.one("Secret", f"{FULLNAME}-ca")
    assert serving["type"] == ca_secret["type"] == "kubernetes.io/tls"
    assert set(serving["data"]) == {"tls.crt", "tls.key", "ca.crt"}

    cert = load_cert(secret_pem(serving, "tls.crt"))
    for hook in out.webhooks().values():
        bundle = load_cert(base64.b64decode(hook["clientConfig"]["caBundle"]))
        assert signed_by(cert, bundle)
        assert bundle == load_cert(secret_pem(serving, "ca.crt")) == load_cert(secret_pem(ca_secret, "tls.crt"))
        assert bundle.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert SERVICE_HOST in dns_sans(cert)
    assert f"{SERVICE_HOST}.cluster.local" in dns_sans(cert)
    assert not signed_by(cert, load_cert(CA_PEM.encode()))  # the check can fail

    # The CA's key is not mounted into the pods; only the serving Secret is.
    volume = next(v for v in out.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == serving["metadata"]["name"]


def test_pods_roll_when_the_generated_certificate_changes(rendered: dict[str, Rendered]) -> None:
    out = rendered["defaults"]
    serving = out.one("Secret", f"{FULLNAME}-tls")
    material = b"".join(secret_pem(serving, k) for k in ("ca.crt", "tls.crt", "tls.key"))
    annotations = out.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/tls"] == hashlib.sha256(material).hexdigest()
    # Nothing to check a checksum against when cert-manager or the user owns the Secret: the server reloads it.
    for name in ("cert-manager", "existing-secret"):
        pod = rendered[name].one("Deployment")["spec"]["template"]["metadata"]
        assert "checksum/tls" not in (pod.get("annotations") or {})


def test_cert_manager_mode(rendered: dict[str, Rendered]) -> None:
    out = rendered["cert-manager"]
    assert not out.of_kind("Secret")
    issuers = {o["metadata"]["name"]: o["spec"] for o in out.of_kind("Issuer")}
    assert issuers == {f"{FULLNAME}-selfsigned": {"selfSigned": {}},
                       f"{FULLNAME}-ca": {"ca": {"secretName": f"{FULLNAME}-ca"}}}
    ca = out.one("Certificate", f"{FULLNAME}-ca")["spec"]
    assert ca["isCA"] is True and ca["issuerRef"]["name"] == f"{FULLNAME}-selfsigned"
    serving = out.one("Certificate", f"{FULLNAME}-tls")
    spec = serving["spec"]
    assert spec["secretName"] == f"{FULLNAME}-tls"
    assert SERVICE_HOST in spec["dnsNames"]
    assert spec["issuerRef"] == {"name": f"{FULLNAME}-ca", "kind": "Issuer", "group": "cert-manager.io"}
    assert "server auth" in spec["usages"]
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        config = out.one(kind)
        annotation = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert annotation == f"{NAMESPACE}/{serving['metadata']['name']}"
        assert "caBundle" not in config["webhooks"][0]["clientConfig"]  # cainjector fills it
    volume = next(v for v in out.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == spec["secretName"]

    own = rendered["cert-manager-issuer"]
    assert not own.of_kind("Issuer")
    (cert,) = own.of_kind("Certificate")
    assert cert["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_existing_secret_mode(rendered: dict[str, Rendered]) -> None:
    out = rendered["existing-secret"]
    assert not out.of_kind("Secret") and not out.of_kind("Certificate")
    volume = next(v for v in out.one("Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "my-webhook-tls"
    for hook in out.webhooks().values():
        assert base64.b64decode(hook["clientConfig"]["caBundle"]).decode() == CA_PEM
    # The caBundle may also be given base64-encoded, as it appears in a webhook configuration.
    encoded = render({"tls": {"existingSecret": "my-webhook-tls", "caBundle": base64.b64encode(CA_PEM.encode())
                              .decode()}})
    assert encoded.webhooks() == out.webhooks()


def test_client_ca_requires_client_certificates(rendered: dict[str, Rendered]) -> None:
    """tls.clientCA: the CA from a ConfigMap, mounted as a directory (kubelet updates it), passed to --client-ca."""
    pod = rendered["everything"].one("Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WEBHOOK_CLIENT_CA"] == "/client-ca/client-ca.pem"
    volume = next(v for v in pod["volumes"] if v["name"] == "client-ca")
    assert volume["configMap"] == {"name": "apiserver-client-ca",
                                   "items": [{"key": "client-ca.pem", "path": "client-ca.pem"}]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "client-ca")
    assert mount == {"name": "client-ca", "mountPath": "/client-ca", "readOnly": True}
    # Off by default: no variable, no volume.
    default_pod = rendered["defaults"].one("Deployment")["spec"]["template"]["spec"]
    assert all(e["name"] != "WEBHOOK_CLIENT_CA" for e in default_pod["containers"][0]["env"])
    assert all(v["name"] != "client-ca" for v in default_pod["volumes"])


def test_url_mode_registers_only_the_webhooks(rendered: dict[str, Rendered]) -> None:
    out = rendered["url"]
    assert out.kinds() == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
    hooks = out.webhooks()
    assert hooks["ValidatingWebhookConfiguration"]["clientConfig"]["url"] == "https://host.docker.internal:8443/validate"
    assert hooks["MutatingWebhookConfiguration"]["clientConfig"]["url"] == "https://host.docker.internal:8443/mutate"
    for hook in hooks.values():
        assert "service" not in hook["clientConfig"]
        assert base64.b64decode(hook["clientConfig"]["caBundle"]).decode() == CA_PEM
    assert "https://host.docker.internal:8443/validate and /mutate" in out.notes
    assert "helm test" not in out.notes  # nothing in the cluster to test
    # A server with a publicly trusted certificate needs no caBundle.
    public = render({"webhook": {"url": "https://webhook.example.com"}})
    assert all("caBundle" not in h["clientConfig"] for h in public.webhooks().values())


# --- Selection ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("namespace", ["webhooks", "kube-system", "platform-admission"])
def test_namespace_selector_excludes_release_namespace_and_kube_system(namespace: str) -> None:
    out = render(namespace=namespace)
    for hook in out.all_webhooks():
        rule = hook["namespaceSelector"]["matchExpressions"][0]
        assert rule["key"] == "kubernetes.io/metadata.name" and rule["operator"] == "NotIn"
        assert sorted(rule["values"]) == sorted({namespace, "kube-system"})


def test_user_selectors_are_added_not_replacing(rendered: dict[str, Rendered]) -> None:
    hooks = rendered["everything"].webhooks()
    values = VALUE_SETS["everything"]["webhook"]
    for hook in hooks.values():
        selector = hook["namespaceSelector"]
        assert selector["matchLabels"] == {"aiven.io/managed": "true"}
        assert selector["matchExpressions"][0]["values"] == [NAMESPACE, "kube-system"]
        assert selector["matchExpressions"][-1:] == values["namespaceSelector"]["matchExpressions"]
        assert hook["objectSelector"] == values["objectSelector"]
        assert hook["matchConditions"][2:] == values["matchConditions"]  # after the two built-in ones
        assert hook["timeoutSeconds"] == 3
    mutating = hooks["MutatingWebhookConfiguration"]
    assert (mutating["failurePolicy"], mutating["reinvocationPolicy"]) == ("Ignore", "IfNeeded")
    assert hooks["ValidatingWebhookConfiguration"]["failurePolicy"] == "Fail"
    defaults = rendered["defaults"].webhooks()
    assert all("objectSelector" not in h and len(h["matchConditions"]) == 2 for h in defaults.values())


# --- The pod --------------------------------------------------------------------------------------------------------

def test_pod_defaults_are_hardened_and_highly_available(rendered: dict[str, Rendered]) -> None:
    out = rendered["defaults"]
    deployment = out.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = out.deployment_container()
    env = out.env()
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # The token only for the cluster checks (on by default; tests/chart/test_cluster_checks.py), and never by default
    # for other pods that run as the same ServiceAccount.
    assert pod["automountServiceAccountToken"] is True
    assert out.one("ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert "hostNetwork" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    term = pod["podAntiAffinity"] if "podAntiAffinity" in pod else pod["affinity"]["podAntiAffinity"]
    (preferred,) = term["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert preferred["podAffinityTerm"]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"][
        "matchLabels"]
    pdb = out.one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]

    # SIGTERM only after the endpoints are gone, and enough time to drain before SIGKILL.
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + int(env["WEBHOOK_GRACEFUL_TIMEOUT"])
    assert int(env["WEBHOOK_KEEP_ALIVE_TIMEOUT"]) > 90  # the apiserver keeps idle connections about 90 s


def test_pdb_only_with_more_than_one_replica() -> None:
    assert not render({"replicaCount": 1}).of_kind("PodDisruptionBudget")
    assert not render({"podDisruptionBudget": {"enabled": False}}).of_kind("PodDisruptionBudget")


def test_host_network_mode(rendered: dict[str, Rendered]) -> None:
    out = rendered["host-network"]
    deployment = out.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    # A surge pod could find no node with the port free.
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert out.one("Service")["spec"]["ports"][0]["port"] == 443


def test_optional_objects(rendered: dict[str, Rendered]) -> None:
    out = rendered["everything"]
    deployment = out.one("Deployment")
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    assert deployment["spec"]["replicas"] == 3
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["tolerations"] == VALUE_SETS["everything"]["tolerations"]
    assert spec["nodeSelector"] == VALUE_SETS["everything"]["nodeSelector"]
    assert spec["terminationGracePeriodSeconds"] == 60
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert pod["metadata"]["annotations"]["example.com/owner"] == "platform"
    assert out.deployment_container()["args"] == ["--request-timeout", "5"]
    repo = "ghcr.io/connectionpool-webhook/connectionpool-webhook"
    assert out.deployment_container()["image"] == f"{repo}@sha256:{'a' * 64}"
    assert out.one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": deployment["spec"]["selector"]}

    policy = out.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["podSelector"] == deployment["spec"]["selector"]
    assert policy["ingress"] == [
        {"ports": [{"port": "https", "protocol": "TCP"}], "from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
        {"ports": [{"port": "metrics", "protocol": "TCP"}],
         "from": VALUE_SETS["everything"]["networkPolicy"]["metricsFrom"]},
    ]
    ports = {p["name"]: p for p in out.one("Service")["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9090 and ports["metrics"]["targetPort"] == "metrics"

    monitor = out.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"] == out.one("Service")["spec"]["selector"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["scheme"], endpoint["path"]) == ("metrics", "http", "/metrics")
    assert "tlsConfig" not in endpoint
    for obj in out.objects:
        assert obj["metadata"]["labels"]["cost-center"] == "db-42", obj["kind"]


def test_service_monitor_defaults_to_verified_https_on_the_webhook_port() -> None:
    out = render({"serviceMonitor": {"enabled": True}})
    (endpoint,) = out.one("ServiceMonitor")["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["scheme"]) == ("https", "https")
    assert endpoint["tlsConfig"] == {"serverName": SERVICE_HOST,
                                     "ca": {"secret": {"name": f"{FULLNAME}-tls", "key": "ca.crt"}}}
    # Only one port: a NetworkPolicy then opens nothing but the webhook port.
    policy = render({"networkPolicy": {"enabled": True}}).one("NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"port": "https", "protocol": "TCP"}]}]
    custom = render({"serviceMonitor": {"enabled": True, "tlsConfig": {"insecureSkipVerify": True}}})
    assert custom.one("ServiceMonitor")["spec"]["endpoints"][0]["tlsConfig"] == {"insecureSkipVerify": True}


@pytest.mark.parametrize("values", [{}, {"metrics": {"port": 9090}}, {"hostNetwork": True, "server": {"port": 10250}}],
                         ids=["defaults", "metrics-port", "host-network"])
def test_network_policy_on_by_default_admits_every_port_the_server_listens_on(values: dict[str, Any]) -> None:
    """On by default because it cannot cut off an install: it admits each port the container declares, from any
    source unless narrowed, and leaves egress (the cluster checks' calls to the apiserver) alone."""
    out = render(values)
    policy = out.one("NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"] == out.one("Deployment")["spec"]["selector"]
    assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec
    admitted = [port for rule in spec["ingress"] for port in rule["ports"]]
    declared = [{"port": port["name"], "protocol": port["protocol"]} for port in out.deployment_container()["ports"]]
    assert admitted == declared
    assert all("from" not in rule for rule in spec["ingress"])
    # The Service's ports lead to those same container ports: what the apiserver and Prometheus dial is admitted.
    assert {p["targetPort"] for p in out.one("Service")["spec"]["ports"]} == {p["port"] for p in admitted}
    assert not render({**values, "networkPolicy": {"enabled": False}}).of_kind("NetworkPolicy")


# --- Names and labels -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("release", "values", "fullname"), [
    ("cpw", {}, "cpw-connectionpool-webhook"),
    ("connectionpool-webhook", {}, "connectionpool-webhook"),
    ("prod-connectionpool-webhook-eu", {}, "prod-connectionpool-webhook-eu"),
    ("cpw", {"nameOverride": "cpool"}, "cpw-cpool"),
    ("cpw", {"fullnameOverride": "pool-guard"}, "pool-guard"),
    ("a" * 50, {}, ("a" * 50 + "-connectionpool-webhook")[:63]),
])
def test_names(release: str, values: dict[str, Any], fullname: str) -> None:
    out = render(values, release=release)
    names = {o["kind"]: o["metadata"]["name"] for o in out.objects if o["kind"] != "Secret"}
    for kind in ("Deployment", "Service", "ServiceAccount", "ValidatingWebhookConfiguration"):
        assert names[kind] == fullname
    assert len(names["Service"]) <= 63  # a DNS label; other names may be DNS subdomains
    for obj in out.objects:
        assert len(obj["metadata"]["name"]) <= 253
        assert all(len(v) <= 63 for v in obj["metadata"]["labels"].values()), obj["metadata"]["labels"]
    host = f"{fullname}.{NAMESPACE}.svc"
    serving = load_cert(secret_pem(out.one("Secret", f"{fullname}-tls"), "tls.crt"))
    assert host in dns_sans(serving)


def test_standard_labels_everywhere(rendered: dict[str, Rendered]) -> None:
    for name, out in rendered.items():
        for obj in out.objects:
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == RELEASE, (name, obj["kind"])
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["helm.sh/chart"].startswith("connectionpool-webhook-")
            assert {"app.kubernetes.io/name", "app.kubernetes.io/version"} <= set(labels)
    out = rendered["defaults"]
    selector = out.one("Deployment")["spec"]["selector"]["matchLabels"]
    pod_labels = out.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert out.one("Service")["spec"]["selector"] == selector
    # The helm test pod must not be picked up by the Service, the PDB or the anti-affinity.
    test_pod = out.one("Pod")
    assert not selector.items() <= test_pod["metadata"]["labels"].items()


def test_image_tag_defaults_to_app_version() -> None:
    app_version = helm.Chart.load(CHART).metadata["appVersion"]
    repo = "ghcr.io/connectionpool-webhook/connectionpool-webhook"
    assert render().deployment_container()["image"] == f"{repo}:{app_version}"
    assert render({"image": {"tag": "1.2.3"}}).deployment_container()["image"] == f"{repo}:1.2.3"


# --- helm test and NOTES -------------------------------------------------------------------------------------------

def test_notes_tell_how_to_check(rendered: dict[str, Rendered]) -> None:
    notes = rendered["defaults"].notes
    assert f"helm test {RELEASE} -n {NAMESPACE}" in notes
    assert f"rollout status deployment/{FULLNAME}" in notes
    assert "--dry-run=server" in notes and "poolMode: bogus" in notes
    assert "kubectl -n webhooks get certificate" in rendered["cert-manager"].notes


def test_helm_test_hook(rendered: dict[str, Rendered]) -> None:
    pod = rendered["defaults"].one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == rendered["defaults"].deployment_container()["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not render({"tests": {"enabled": False}}).of_kind("Pod")


def start_rendered_server(out: Rendered, tls_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """Run our server with the environment the chart gives the container (paths and address made local)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_")}
    for name, value in out.env().items():
        env[name] = value.replace("/tls/", f"{tls_dir}/")
    env["WEBHOOK_HOST"], env["WEBHOOK_PORT"] = "127.0.0.1", str(port)
    return subprocess.Popen([sys.executable, "-m", "webhook", "serve", *out.deployment_container().get("args", [])],
                            env=env, cwd=tls_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.process
@pytest.mark.parametrize("mode", ["defaults", "existing-secret"])
def test_helm_test_passes_against_the_server_as_the_chart_configures_it(tmp_path: Path, mode: str) -> None:
    """The rendered caBundle trusts the server for <service>.<namespace>.svc, and the `helm test` script passes."""
    tls_dir = tmp_path / "tls"
    if mode == "defaults":
        out = render()
        tls_dir.mkdir()
        serving = out.one("Secret", f"{FULLNAME}-tls")
        for key in ("tls.crt", "tls.key"):
            (tls_dir / key).write_bytes(secret_pem(serving, key))
    else:
        made = make_certs(tmp_path / "made", SERVICE_HOST)  # what a user would put in their Secret
        out = render({"tls": {"existingSecret": "mine", "caBundle": (made / "ca.crt").read_text()}})
        shutil.copytree(made, tls_dir)
    ca_file = tmp_path / "apiserver-ca.crt"  # what the apiserver trusts: the configuration's caBundle
    ca_file.write_bytes(base64.b64decode(out.webhooks()["ValidatingWebhookConfiguration"]["clientConfig"]["caBundle"]))

    port = free_port()
    server = start_rendered_server(out, tls_dir, port)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            try:
                client = Client(port, ca_file, server_name=SERVICE_HOST)
                ready = client.request("GET", "/readyz").status == 200
                client.close()
                if ready:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.05)

        (test_container,) = out.one("Pod")["spec"]["containers"]
        command = test_container["command"]
        assert command[:2] == ["python", "-c"]
        env = {e["name"]: e["value"] for e in test_container["env"]}
        assert env["SMOKE_HOST"] == SERVICE_HOST
        env["SMOKE_PORT"], env["SMOKE_CONNECT"] = str(port), "127.0.0.1"
        if "SMOKE_CA_FILE" in env:  # the pod mounts ca.crt from the serving Secret
            env["SMOKE_CA_FILE"] = str(ca_file)
        result = subprocess.run([sys.executable, "-c", command[2]], env={**os.environ, **env},
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("ok ") == 3

        # The same script fails against a server the caBundle does not vouch for.
        other = make_certs(tmp_path / "other", SERVICE_HOST)
        env_other = {**env, "SMOKE_CA_FILE": str(other / "ca.crt")}
        env_other.pop("SMOKE_CA_PEM", None)
        bad = subprocess.run([sys.executable, "-c", command[2]], env={**os.environ, **env_other},
                             capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in bad.stderr
    finally:
        server.terminate()
        server.wait(30)


# --- Certificates survive `helm upgrade` ----------------------------------------------------------------------------

PROBE_TEMPLATE = """\
{{- $in := .Files.Get "probe.json" | fromJson }}
{{- include "connectionpool-webhook.reuseOrGenerateTLS" (dict "root" . "caSecret" $in.caSecret
    "servingSecret" $in.servingSecret "now" $in.now) }}
"""


@pytest.fixture(scope="module")
def probe_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart plus one template that feeds the TLS reuse logic the Secrets `lookup` would return.

    Offline rendering has no cluster, so `lookup` is always empty; this drives the same named template with Secrets
    taken from a real render, as they would be in the cluster at the next `helm upgrade`.
    """
    chart = tmp_path_factory.mktemp("probe") / "connectionpool-webhook"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-probe.yaml").write_text(PROBE_TEMPLATE)
    return chart


def reuse(chart: Path, ca_secret: dict[str, Any], serving_secret: dict[str, Any], now: int, *,
          values: dict[str, Any] | None = None, release: str = RELEASE) -> dict[str, str]:
    (chart / "probe.json").write_text(json.dumps({"caSecret": ca_secret, "servingSecret": serving_secret,
                                                  "now": now}))
    with helm.Chart.load(chart) as loaded:
        files = loaded.render(values or {}, name=release, namespace=NAMESPACE, is_upgrade=True)
    result: dict[str, str] = json.loads(files["connectionpool-webhook/templates/zz-probe.yaml"])
    return result


def test_upgrade_keeps_or_renews_generated_certificates(probe_chart: Path) -> None:
    first = render()
    ca_secret = first.one("Secret", f"{FULLNAME}-ca")
    serving = first.one("Secret", f"{FULLNAME}-tls")
    ca_pem, cert_pem = secret_pem(ca_secret, "tls.crt").decode(), secret_pem(serving, "tls.crt").decode()
    key_pem = secret_pem(serving, "tls.key").decode()
    cert_expiry = int(serving["metadata"]["annotations"]["connectionpool-webhook.io/not-after"])
    ca_expiry = int(ca_secret["metadata"]["annotations"]["connectionpool-webhook.io/not-after"])
    issued = load_cert(cert_pem.encode()).not_valid_before_utc.timestamp() + 300  # certificates are backdated
    assert abs(cert_expiry - load_cert(cert_pem.encode()).not_valid_after_utc.timestamp()) < 600
    now = int(time.time())
    assert abs(issued - now) < 3600

    # A plain upgrade a day later: same CA, same certificate, same key, so no caBundle change and no pod roll.
    kept = reuse(probe_chart, ca_secret, serving, now + 86400)
    assert (kept["ca.crt"], kept["tls.crt"], kept["tls.key"]) == (ca_pem, cert_pem, key_pem)
    assert kept["notAfter"] == str(cert_expiry)

    # Close to expiry: a new certificate from the same CA, which the apiserver already trusts.
    renewed = reuse(probe_chart, ca_secret, serving, cert_expiry - 30 * 86400)
    assert renewed["ca.crt"] == ca_pem and renewed["tls.crt"] != cert_pem and renewed["tls.key"] != key_pem
    assert signed_by(load_cert(renewed["tls.crt"].encode()), load_cert(ca_pem.encode()))

    # The Service got another name: a certificate for the new name, same CA.
    renamed = reuse(probe_chart, ca_secret, serving, now, values={"fullnameOverride": "pool-guard"})
    assert renamed["ca.crt"] == ca_pem and renamed["tls.crt"] != cert_pem
    assert f"pool-guard.{NAMESPACE}.svc" in dns_sans(load_cert(renamed["tls.crt"].encode()))

    # The serving Secret was signed by some other CA (e.g. edited by hand): re-issued from ours.
    foreign = copy.deepcopy(serving)
    foreign["data"]["ca.crt"] = base64.b64encode(CA_PEM.encode()).decode()
    fixed = reuse(probe_chart, ca_secret, foreign, now)
    assert fixed["ca.crt"] == ca_pem and fixed["tls.crt"] != cert_pem

    # The CA itself is near its end: everything new.
    fresh = reuse(probe_chart, ca_secret, serving, ca_expiry - 86400)
    assert fresh["ca.crt"] != ca_pem
    assert signed_by(load_cert(fresh["tls.crt"].encode()), load_cert(fresh["ca.crt"].encode()))

    # First install (nothing to look up): generated from scratch.
    new = reuse(probe_chart, {}, {}, now)
    assert new["ca.crt"] != ca_pem
    assert signed_by(load_cert(new["tls.crt"].encode()), load_cert(new["ca.crt"].encode()))
