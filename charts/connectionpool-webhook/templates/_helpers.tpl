{{/* Names are cut to 63 characters: the DNS label limit that Service names must fit. */}}
{{- define "connectionpool-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "connectionpool-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "connectionpool-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "connectionpool-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "connectionpool-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "connectionpool-webhook.labels" -}}
helm.sh/chart: {{ include "connectionpool-webhook.chart" . }}
{{ include "connectionpool-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: connectionpool-webhook
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The test pod's labels: the same release, but a different name, so Service, PDB and anti-affinity ignore it. */}}
{{- define "connectionpool-webhook.testLabels" -}}
{{- $labels := include "connectionpool-webhook.labels" . | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/name" (printf "%s-test" (include "connectionpool-webhook.name" .) | trunc 63 | trimSuffix "-") }}
{{- $_ := set $labels "app.kubernetes.io/component" "test" }}
{{- toYaml $labels }}
{{- end }}

{{- define "connectionpool-webhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "connectionpool-webhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "connectionpool-webhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The name the apiserver dials and checks the certificate against. */}}
{{- define "connectionpool-webhook.serviceHost" -}}
{{- printf "%s.%s.svc" (include "connectionpool-webhook.fullname" .) .Release.Namespace }}
{{- end }}

{{/* The server runs in the cluster unless webhook.url points elsewhere, or mode is policy (no server at all). */}}
{{- define "connectionpool-webhook.inCluster" -}}
{{- if and (ne .Values.mode "policy") (not .Values.webhook.url) }}true{{ end }}
{{- end }}

{{/* One of: generated, certManager, existingSecret; fails on contradictory values. */}}
{{- define "connectionpool-webhook.tlsMode" -}}
{{- if and .Values.certManager.enabled .Values.tls.existingSecret }}
{{- fail "certManager.enabled and tls.existingSecret are two different TLS modes: set only one" }}
{{- else if .Values.certManager.enabled }}certManager
{{- else if .Values.tls.existingSecret }}
{{- if not .Values.tls.caBundle }}
{{- fail "tls.existingSecret needs tls.caBundle: the CA (PEM) that signed its certificate, for the apiserver to trust" }}
{{- end }}existingSecret
{{- else }}generated
{{- end }}
{{- end }}

{{- define "connectionpool-webhook.tlsSecretName" -}}
{{- if eq (include "connectionpool-webhook.tlsMode" .) "existingSecret" }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "connectionpool-webhook.fullname" .) }}
{{- end }}
{{- end }}

{{- define "connectionpool-webhook.caSecretName" -}}
{{- printf "%s-ca" (include "connectionpool-webhook.fullname" .) }}
{{- end }}

{{- define "connectionpool-webhook.dnsNames" -}}
{{- $svc := include "connectionpool-webhook.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | toJson }}
{{- end }}

{{/* tls.caBundle as PEM, whether it was given as PEM or as base64 of PEM. */}}
{{- define "connectionpool-webhook.userCAPEM" -}}
{{- $ca := .Values.tls.caBundle | trim }}
{{- if and $ca (not (contains "-----BEGIN" $ca)) }}
{{- $ca = b64dec $ca | trim }}
{{- end }}
{{- with $ca }}{{ printf "%s\n" . }}{{ end }}
{{- end }}

{{/*
Generated TLS material as JSON: {"ca.crt", "ca.key", "tls.crt", "tls.key"} (PEM) plus annotations for both Secrets.
Made once per render and kept on the root context: every template that includes it (Secrets, webhook
configurations, the pod's checksum) must see the same certificates, and gen* functions are random.
*/}}
{{- define "connectionpool-webhook.generatedTLS" -}}
{{- if not (hasKey $ "connectionpoolWebhookGeneratedTLS") }}
{{- $ns := .Release.Namespace }}
{{- $ca := lookup "v1" "Secret" $ns (include "connectionpool-webhook.caSecretName" .) }}
{{- $serving := lookup "v1" "Secret" $ns (include "connectionpool-webhook.tlsSecretName" .) }}
{{- $args := dict "root" . "caSecret" $ca "servingSecret" $serving "now" (now | unixEpoch | atoi) }}
{{- $_ := set $ "connectionpoolWebhookGeneratedTLS" (include "connectionpool-webhook.reuseOrGenerateTLS" $args) }}
{{- end }}
{{- index $ "connectionpoolWebhookGeneratedTLS" }}
{{- end }}

{{/*
Reuse what the cluster already holds where it is still good, generate the rest. Input: dict with root, caSecret and
servingSecret (Secrets as `lookup` returns them, or empty) and now (Unix seconds). Offline renders (`helm template`,
client dry runs) see no Secrets and so always generate.
- The CA is reused until it is within renewBeforeDays of expiry, so `helm upgrade` leaves the caBundle alone.
- The serving certificate is reused while it was signed by that CA, names the same hosts and is not within
  renewBeforeDays of expiry; otherwise it is re-issued from the same CA, which the apiserver already trusts.
Expiry and hosts are kept in annotations because templates cannot parse certificates.
*/}}
{{- define "connectionpool-webhook.reuseOrGenerateTLS" -}}
{{- $root := .root }}
{{- $cfg := $root.Values.tls.generated }}
{{- $renewBefore := mul (int $cfg.renewBeforeDays) 86400 }}
{{- $now := int64 .now }}
{{- $dnsNames := include "connectionpool-webhook.dnsNames" $root | fromJsonArray }}
{{- $hosts := join "," $dnsNames }}
{{- $notAfterKey := "connectionpool-webhook.io/not-after" }}
{{- $hostsKey := "connectionpool-webhook.io/hosts" }}
{{- $ca := dict }}
{{- $caNotAfter := "" }}
{{- $caData := dig "data" dict .caSecret }}
{{- $caKept := dig "metadata" "annotations" $notAfterKey "0" .caSecret }}
{{- if and (index $caData "tls.crt") (index $caData "tls.key") (gt (int64 $caKept) (add $now $renewBefore)) }}
{{- $ca = buildCustomCert (index $caData "tls.crt") (index $caData "tls.key") }}
{{- $caNotAfter = $caKept }}
{{- else }}
{{- $ca = genCA (printf "%s-ca" (include "connectionpool-webhook.fullname" $root) | trunc 64) (int $cfg.caValidityDays) }}
{{- $caNotAfter = add $now (mul (int $cfg.caValidityDays) 86400) | toString }}
{{- end }}
{{- $caCrt := $ca.Cert | b64enc }}
{{- $srvData := dig "data" dict .servingSecret }}
{{- $srvKept := dig "metadata" "annotations" $notAfterKey "0" .servingSecret }}
{{- $srvHosts := dig "metadata" "annotations" $hostsKey "" .servingSecret }}
{{- $out := dict "ca.crt" $ca.Cert "ca.key" $ca.Key "caNotAfter" $caNotAfter "hosts" $hosts }}
{{- if and (index $srvData "tls.crt") (index $srvData "tls.key") (eq (index $srvData "ca.crt" | default "") $caCrt) (eq $srvHosts $hosts) (gt (int64 $srvKept) (add $now $renewBefore)) }}
{{- $_ := set $out "tls.crt" (index $srvData "tls.crt" | b64dec) }}
{{- $_ := set $out "tls.key" (index $srvData "tls.key" | b64dec) }}
{{- $_ := set $out "notAfter" $srvKept }}
{{- else }}
{{- $cert := genSignedCert (include "connectionpool-webhook.fullname" $root) nil $dnsNames (int $cfg.certValidityDays) $ca }}
{{- $_ := set $out "tls.crt" $cert.Cert }}
{{- $_ := set $out "tls.key" $cert.Key }}
{{- $_ := set $out "notAfter" (add $now (mul (int $cfg.certValidityDays) 86400) | toString) }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* base64 caBundle for the webhook configurations; empty when cert-manager injects it or none is needed. */}}
{{- define "connectionpool-webhook.caBundle" -}}
{{- if not (include "connectionpool-webhook.inCluster" .) }}
{{- with include "connectionpool-webhook.userCAPEM" . }}{{ b64enc . }}{{ end }}
{{- else }}
{{- $mode := include "connectionpool-webhook.tlsMode" . }}
{{- if eq $mode "generated" }}
{{- index (include "connectionpool-webhook.generatedTLS" . | fromJson) "ca.crt" | b64enc }}
{{- else if eq $mode "existingSecret" }}
{{- include "connectionpool-webhook.userCAPEM" . | b64enc }}
{{- end }}
{{- end }}
{{- end }}

{{/* Annotations shared by both webhook configurations. */}}
{{- define "connectionpool-webhook.webhookAnnotations" -}}
{{- $ann := deepCopy (.Values.webhook.annotations | default dict) }}
{{- if and (include "connectionpool-webhook.inCluster" .) (eq (include "connectionpool-webhook.tlsMode" .) "certManager") }}
{{- $_ := set $ann "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "connectionpool-webhook.tlsSecretName" .)) }}
{{- end }}
{{- with $ann }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* The fields both webhooks share; takes dict with root and path. */}}
{{- define "connectionpool-webhook.webhookCommon" -}}
{{- $root := .root }}
{{- $v := $root.Values.webhook -}}
admissionReviewVersions: [v1]
sideEffects: None
matchPolicy: Equivalent
timeoutSeconds: {{ $v.timeoutSeconds }}
clientConfig:
  {{- if $v.url }}
  url: {{ printf "%s%s" (trimSuffix "/" $v.url) .path | quote }}
  {{- else }}
  service:
    name: {{ include "connectionpool-webhook.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ .path }}
    port: {{ $root.Values.service.port }}
  {{- end }}
  {{- with include "connectionpool-webhook.caBundle" $root }}
  caBundle: {{ . }}
  {{- end }}
rules:
  - apiGroups: [aiven.io]
    apiVersions: [v1alpha1]
    resources: [connectionpools]
    operations: [CREATE, UPDATE]
    scope: Namespaced
namespaceSelector:
  {{- with $v.namespaceSelector.matchLabels }}
  matchLabels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  matchExpressions:
    # Never in the webhook's own namespace or kube-system: a broken webhook must not lock out its own repair.
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ list $root.Release.Namespace "kube-system" | uniq | toJson }}
    {{- with .enforcement }}
    # Per-namespace enforcement: each entry takes the namespaces its label value selects.
    - key: {{ include "connectionpool-webhook.enforcementLabel" $root }}
      {{- if eq . "default" }}
      operator: NotIn
      values: [deny, warn, dryrun]
      {{- else }}
      operator: In
      values: [{{ . }}]
      {{- end }}
    {{- end }}
    {{- with $v.namespaceSelector.matchExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- with $v.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchConditions:
  # The apiserver does not call the webhook where the answer can only be "allowed", so an outage blocks neither
  # deletion nor metadata changes (labels, annotations, finalizers, owner references). The server applies the same
  # two rules itself, for clusters without matchConditions.
  - name: exclude-objects-being-deleted
    expression: "!has(object.metadata.deletionTimestamp)"
  - name: exclude-updates-leaving-spec-unchanged
    expression: "request.operation != 'UPDATE' || !has(oldObject.spec) || !has(object.spec) || object.spec != oldObject.spec"
  {{- with $v.matchConditions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* The namespace label that overrides the enforcement mode. */}}
{{- define "connectionpool-webhook.enforcementLabel" -}}
connectionpool-webhook.io/enforcement
{{- end }}

{{/* The server checks objects against the cluster (--cluster-checks): only a server the chart runs in the cluster. */}}
{{- define "connectionpool-webhook.clusterChecks" -}}
{{- if and (include "connectionpool-webhook.inCluster" .) .Values.clusterChecks.enabled }}true{{ end }}
{{- end }}

{{/*
Checkov's skip annotations (checkov.io/skipN: CHECK=reason) for the image checks, on the objects that run the image:
emitted only where the check would fail, so a check the values satisfy (image.digest set, pullPolicy Always) runs and
passes instead of being skipped. Checkov splits each value at "=", so no reason may contain one.
*/}}
{{- define "connectionpool-webhook.imageScanSkips" -}}
{{- if not .Values.image.digest }}
checkov.io/skip1: "CKV_K8S_43=Pulled by the chart's appVersion tag until image.digest is set: a release's digest is only known once its image is published"
{{- if ne .Values.image.pullPolicy "Always" }}
checkov.io/skip2: "CKV_K8S_15=image.pullPolicy IfNotPresent: a webhook pod must start from the node's image cache while the registry is unreachable, as every ConnectionPool write waits on the webhook; set image.digest to make what runs immutable"
{{- end }}
{{- end }}
{{- end }}
