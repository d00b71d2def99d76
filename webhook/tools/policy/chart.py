"""The Helm chart's ``templates/policy.yaml``, generated from the policy objects: the chart cannot run Python, so its
template is written from :mod:`.objects` (``python -m webhook.tools.policy.chart``), and a test checks it is current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from webhook.rules import wording
from webhook.tools.policy.objects import (
    NEWEST,
    OLDEST,
    mutating_api_version,
    mutating_spec,
    to_yaml,
    validating_api_version,
    validating_spec,
)

CHART_TEMPLATE = "charts/connectionpool-webhook/templates/policy.yaml"


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    """The spec as YAML lines indented under ``spec:``."""
    return ["  " + line for line in to_yaml([spec]).splitlines()]


def _eras(make: Any) -> list[tuple[tuple[int, int], list[str]]]:
    """(first minor, lines) of each run of consecutive versions whose ``make(minor)`` lines are the same."""
    eras: list[tuple[tuple[int, int], list[str]]] = []
    for minor_number in range(OLDEST[1], NEWEST[1] + 1):
        minor = (1, minor_number)
        lines = make(minor)
        if lines is None:
            continue
        if not eras or eras[-1][1] != lines:
            eras.append((minor, lines))
    return eras


def _since(minor: tuple[int, int]) -> str:
    return f'semverCompare ">={minor[0]}.{minor[1]}-0" $version'


def _by_version(eras: list[tuple[tuple[int, int], list[str]]]) -> list[str]:
    """Template lines choosing among the eras' lines by the Kubernetes version, line by line where they align."""
    newest_first = list(reversed(eras))
    if len({len(lines) for _, lines in eras}) == 1:
        out: list[str] = []
        for i in range(len(eras[0][1])):
            variants = [lines[i] for _, lines in newest_first]
            if len(set(variants)) == 1:
                out.append(variants[0])
                continue
            for n, (minor, lines) in enumerate(newest_first):
                keyword = "if" if n == 0 else "else if"
                out.append("{{- else }}" if n == len(newest_first) - 1 else f"{{{{- {keyword} {_since(minor)} }}}}")
                out.append(lines[i])
            out.append("{{- end }}")
        return out
    out = []
    for n, (minor, lines) in enumerate(newest_first):
        keyword = "if" if n == 0 else "else if"
        out.append("{{- else }}" if n == len(newest_first) - 1 else f"{{{{- {keyword} {_since(minor)} }}}}")
        out.extend(lines)
    out.append("{{- end }}")
    return out


def chart_template() -> str:
    """templates/policy.yaml: the same objects as ``export``, for the cluster's version (or kubernetesVersion)."""
    def validating(minor: tuple[int, int]) -> list[str]:
        return _spec_lines(validating_spec(wording.for_version(minor)))

    map_versions = _eras(lambda minor: None if mutating_api_version(minor) is None else [mutating_api_version(minor)])
    lines = [
        "{{- /*",
        "GENERATED from webhook/tools/policy/ by `python -m webhook.tools.policy.chart`: do not edit by hand.",
        "tests/chart/test_policy_mode.py fails when this file and the generator disagree. The same objects as",
        "`connectionpool-webhook policy`, for the cluster's Kubernetes version (or .Values.kubernetesVersion).",
        "*/}}",
        '{{- if has .Values.mode (list "policy" "both") }}',
        '{{- $fullname := include "connectionpool-webhook.fullname" . }}',
        "{{- $version := .Values.kubernetesVersion | default .Capabilities.KubeVersion.Version }}",
        '{{- $vap := "" }}',
    ]
    lines += _by_version(_eras(lambda minor: [f'{{{{- $vap = "{validating_api_version(minor)}" }}}}']))
    lines += [
        "apiVersion: {{ $vap }}",
        "kind: ValidatingAdmissionPolicy",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        *_by_version(_eras(validating)),
        "{{- /* One binding per enforcement mode, told apart by the namespace label, like the webhook's entries. */}}",
        '{{- range $mode := list "default" "deny" "warn" "dryrun" }}',
        '{{- $effective := ternary $.Values.enforcement $mode (eq $mode "default") }}',
        "---",
        "apiVersion: {{ $vap }}",
        "kind: ValidatingAdmissionPolicyBinding",
        "metadata:",
        '  name: {{ ternary $fullname (printf "%s-%s" $fullname $mode) (eq $mode "default") }}',
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" $ | nindent 4 }}',
        "spec:",
        "  policyName: {{ $fullname }}",
        "  validationActions:",
        '    - {{ get (dict "deny" "Deny" "warn" "Warn" "dryrun" "Audit") $effective }}',
        "  matchResources:",
        '    {{- include "connectionpool-webhook.policyMatchResources" (dict "root" $ "enforcement" $mode) '
        "| nindent 4 }}",
        "{{- end }}",
        '{{- $map := "" }}',
    ]
    for n, (minor, (api,)) in enumerate(reversed(map_versions)):
        keyword = "if" if n == 0 else "else if"
        lines.append(f"{{{{- {keyword} {_since(minor)} }}}}")
        lines.append(f'{{{{- $map = "{api}" }}}}')
    lines += [
        "{{- end }}",
        "{{- /* Alpha and beta APIs are off unless enabled: auto renders it where the cluster serves the kind. */}}",
        "{{- $mutating := toString .Values.policy.mutating }}",
        '{{- $served := .Capabilities.APIVersions.Has (printf "%s/MutatingAdmissionPolicy" $map) }}',
        '{{- if and $map (or (eq $mutating "true") (and (eq $mutating "auto") $served)) }}',
        "---",
        "apiVersion: {{ $map }}",
        "kind: MutatingAdmissionPolicy",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        *_spec_lines(mutating_spec()),  # the same in every version that has the API
        "---",
        "apiVersion: {{ $map }}",
        "kind: MutatingAdmissionPolicyBinding",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        "  policyName: {{ $fullname }}",
        "  matchResources:",
        '    {{- include "connectionpool-webhook.policyMatchResources" (dict "root" . "enforcement" "") | nindent 4 }}',
        "{{- end }}",
        "{{- end }}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if argv:
        sys.exit("usage: python -m webhook.tools.policy.chart  (rewrites " + CHART_TEMPLATE + ")")
    target = Path(__file__).resolve().parents[3] / CHART_TEMPLATE
    target.write_text(chart_template())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
