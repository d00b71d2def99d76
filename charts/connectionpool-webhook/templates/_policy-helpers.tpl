{{/* matchResources of the policy bindings: the webhooks' namespace and object selectors (webhook.namespaceSelector,
webhook.objectSelector), so that both modes judge the same objects. Takes dict with root and enforcement ("" for
none, "default" for namespaces without a known label value, else the label value). */}}
{{- define "connectionpool-webhook.policyMatchResources" -}}
{{- $root := .root }}
{{- $v := $root.Values.webhook -}}
namespaceSelector:
  {{- with $v.namespaceSelector.matchLabels }}
  matchLabels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  matchExpressions:
    # Not in the release's own namespace or kube-system, like the webhooks.
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ list $root.Release.Namespace "kube-system" | uniq | toJson }}
    {{- with .enforcement }}
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
{{- end }}
