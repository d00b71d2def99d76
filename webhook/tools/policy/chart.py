"""The Helm chart's ``templates/policy.yaml``, generated from the policy objects: the chart cannot run Python, so its
template is written from :mod:`.objects` (``python -m webhook.tools.policy.chart``), and a test checks it is current.

The chart renders what ``export(version, release=...)`` returns for the aiven-operator release of
``.Values.operatorVersion`` and the Kubernetes version of ``.Values.kubernetesVersion`` (else the cluster's): every
pair of a listed release (:data:`webhook.rules.releases.RELEASES`) and a minor the export knows (:data:`.OLDEST` to
:data:`.NEWEST`) is a *variant* of the ValidatingAdmissionPolicy's spec. A copy of the spec per variant would be
hundreds of kilobytes of near-identical lines, so the variants are merged instead (:func:`merge`): one sequence of
lines, aligned like a diff, in which each line knows the variants it belongs to. The template computes two numbers
once, ``$r`` (the release's index in ``RELEASES``, from ``semverCompare`` on the operator version) and ``$m`` (the
Kubernetes minor, from ``semverCompare`` on the Kubernetes version, held within OLDEST..NEWEST), writes the lines of
every variant bare, and wraps the others in ``if`` / ``else if`` / ``else`` chains over ranges of ``$r`` and ``$m``
(``and (ge $r 3) (lt $m 32)``), one per run of lines with the same variants (:func:`conditional_lines`).
"""

from __future__ import annotations

import difflib
import functools
import itertools
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from webhook.rules import releases, wording
from webhook.rules.releases import Release
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
# The named template that reads .Values.operatorVersion; defined in the generated file, tested on its own.
RELEASE_TEMPLATE = "connectionpool-webhook.policyRelease"

# A variant of the spec: (index of the release in RELEASES, Kubernetes minor).
Variant = tuple[int, int]
K = TypeVar("K", bound=Hashable)

MINORS = range(OLDEST[1], NEWEST[1] + 1)
VARIANTS: tuple[Variant, ...] = tuple(itertools.product(range(len(releases.RELEASES)), MINORS))


def _spec_lines(spec: dict[str, Any]) -> list[str]:
    """The spec as YAML lines indented under ``spec:``."""
    return ["  " + line for line in to_yaml([spec]).splitlines()]


def _validating_spec_lines(spec: dict[str, Any]) -> list[str]:
    """``_spec_lines(spec)``, each validation written once however many variants share it: ruamel's pure-Python
    emitter is what takes the generator's time. A block mapping's lines are its keys' one after another, and a block
    sequence's its items', so the pieces make the whole (a test checks)."""
    *head, (last, items) = spec.items()
    assert last == "validations", "the validations come last"
    lines = [*_spec_lines(dict(head)), "  validations:"]
    for item in items:
        lines += _validation_lines(tuple(item.items()))
    return lines


@functools.cache
def _validation_lines(item: tuple[tuple[str, str], ...]) -> list[str]:
    return _spec_lines({"validations": [dict(item)]})[1:]


def validating_lines(variants: Iterable[Variant] = VARIANTS) -> dict[Variant, list[str]]:
    """The ValidatingAdmissionPolicy's spec lines of each variant. The spec depends on the minor through its wording
    only, so each (wording, release) is compiled once."""
    compiled: dict[tuple[wording.Wording, Release], list[str]] = {}
    out = {}
    for index, minor in variants:
        key = (wording.for_version((1, minor)), releases.RELEASES[index])
        if key not in compiled:
            compiled[key] = _validating_spec_lines(validating_spec(*key))
        out[(index, minor)] = compiled[key]
    return out


# ---------------------------------------------------------------------------------------------------------------
# Merging the variants' lines


def merge(variants: Mapping[K, Sequence[str]]) -> list[tuple[str, frozenset[K]]]:
    """One sequence of (line, the variants it belongs to) from which each variant's lines are those that belong to
    it, in order. Each distinct list of lines is aligned with what is merged so far (difflib, the longest matching
    runs first): matching lines gain its variants, the others are inserted where they stand."""
    distinct: dict[tuple[str, ...], set[K]] = {}
    for key, lines in variants.items():
        distinct.setdefault(tuple(lines), set()).add(key)
    merged: list[tuple[str, set[K]]] = []
    for lines, keys in distinct.items():
        matcher = difflib.SequenceMatcher(None, [text for text, _ in merged], lines, autojunk=False)
        out: list[tuple[str, set[K]]] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            out += merged[i1:i2]
            if tag == "equal":
                for _, owners in merged[i1:i2]:
                    owners.update(keys)
            else:
                out += [(line, set(keys)) for line in lines[j1:j2]]
        merged = out
    result = _slid([(text, frozenset(owners)) for text, owners in merged])
    for key, lines in variants.items():  # the whole point: nothing gained, lost or moved for any variant
        assert [text for text, owners in result if key in owners] == list(lines), key
    return result


def _slid(merged: list[tuple[str, frozenset[K]]]) -> list[tuple[str, frozenset[K]]]:
    """Each run of lines that belong to the same variants slid down past the lines it repeats, as diff tools do, so
    that it starts at a list item (``  - ``) where it can: a validation added by a release is then one block,
    rather than the end of the one before and most of its own. Legal when the line after the run belongs to every
    variant of the run: each of them still sees the same lines in the same order."""
    out = list(merged)
    i = 0
    while i < len(out):
        j = _run_end(out, i)
        while (j < len(out) and not out[i][0].lstrip().startswith("- ") and out[i][0] == out[j][0]
               and out[j][1] >= out[i][1]):
            out[i], out[j] = (out[i][0], out[j][1]), (out[j][0], out[i][1])
            i += 1
            j = _run_end(out, i)
        i = j
    return out


def _run_end(lines: list[tuple[str, frozenset[K]]], start: int) -> int:
    end = start
    while end < len(lines) and lines[end][1] == lines[start][1]:
        end += 1
    return end


# ---------------------------------------------------------------------------------------------------------------
# Conditions over $r and $m


def _range_atoms(variable: str, low: int, high: int, first: int, last: int) -> list[str]:
    """Template tests that hold for ``variable`` within ``low``..``high`` of ``first``..``last``."""
    if low == first and high == last:
        return []
    if low == high:
        return [f"eq {variable} {low}"]
    if low == first:
        return [f"lt {variable} {high + 1}"]
    if high == last:
        return [f"ge {variable} {low}"]
    return [f"ge {variable} {low}", f"lt {variable} {high + 1}"]


def _all(atoms: Sequence[str]) -> str:
    return atoms[0] if len(atoms) == 1 else "and " + " ".join(f"({atom})" for atom in atoms)


class Conditions:
    """Template conditions over ``$r`` (the release's index) and ``$m`` (the minor) for sets of variants."""

    def __init__(self, universe: Iterable[Variant]) -> None:
        self.universe = frozenset(universe)
        rs = sorted({r for r, _ in self.universe})
        ms = sorted({m for _, m in self.universe})
        assert self.universe == frozenset(itertools.product(rs, ms)), "variants: every release with every minor"
        self.rs, self.ms = rs, ms
        # Every rectangle of releases x minors, shortest expression first.
        rectangles = []
        for (r1, r2), (m1, m2) in itertools.product(_spans(rs), _spans(ms)):
            atoms = _range_atoms("$r", r1, r2, rs[0], rs[-1]) + _range_atoms("$m", m1, m2, ms[0], ms[-1])
            if atoms:
                covered = frozenset(itertools.product(range(r1, r2 + 1), range(m1, m2 + 1)))
                rectangles.append((_all(atoms), covered))
        self.rectangles = sorted(rectangles, key=lambda rectangle: len(rectangle[0]))

    def test(self, wanted: frozenset[Variant], possible: frozenset[Variant] | None = None) -> str:
        """A test that holds for the ``possible`` variants in ``wanted`` and no other ``possible`` one (by default
        every variant): the others are decided already, by the branches before it."""
        possible = self.universe if possible is None else possible
        assert wanted and wanted < possible, "a test for no variant or for every one"
        for expression, covered in self.rectangles:
            if covered & possible == wanted:
                return expression
        # Not one rectangle: bands of consecutive releases with the same minors, each minor set as ranges.
        bands: list[tuple[list[int], list[int]]] = []
        for r in self.rs:
            minors = sorted(m for rr, m in wanted if rr == r)
            if bands and bands[-1][1] == minors and bands[-1][0][-1] == r - 1:
                bands[-1][0].append(r)
            elif minors:
                bands.append(([r], minors))
        terms = []
        for band, minors in bands:
            atoms = _range_atoms("$r", band[0], band[-1], self.rs[0], self.rs[-1])
            spans = [_range_atoms("$m", low, high, self.ms[0], self.ms[-1]) for low, high in _runs(minors)]
            if len(spans) == 1:
                atoms += spans[0]
            else:
                atoms.append("or " + " ".join(f"({_all(span)})" for span in spans))
            terms.append(_all(atoms))
        return terms[0] if len(terms) == 1 else "or " + " ".join(f"({term})" for term in terms)


def _spans(values: list[int]) -> list[tuple[int, int]]:
    return [(low, high) for i, low in enumerate(values) for high in values[i:]]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive integers as (first, last) ranges."""
    out: list[tuple[int, int]] = []
    for value in values:
        if out and out[-1][1] == value - 1:
            out[-1] = (out[-1][0], value)
        else:
            out.append((value, value))
    return out


def conditional_lines(merged: list[tuple[str, frozenset[Variant]]], conditions: Conditions) -> list[str]:
    """Template lines that render, for each variant, exactly its lines of ``merged``. Lines of every variant are
    written bare; each run of lines of the same variants is a branch; consecutive branches for disjoint variants
    share one ``if`` / ``else if`` chain (in the order that needs the shortest tests, each one knowing the branches
    before it failed), ending in ``else`` where the chain covers every variant. Chains are never nested."""
    runs: list[tuple[frozenset[Variant], list[str]]] = []
    for text, owners in merged:
        if runs and runs[-1][0] == owners:
            runs[-1][1].append(text)
        else:
            runs.append((owners, [text]))
    out: list[str] = []
    i = 0
    while i < len(runs):
        owners, lines = runs[i]
        if owners == conditions.universe:
            out += lines
            i += 1
            continue
        chain = [runs[i]]
        taken = set(owners)
        i += 1
        while i < len(runs) and runs[i][0] != conditions.universe and not runs[i][0] & taken:
            chain.append(runs[i])
            taken |= runs[i][0]
            i += 1
        out += _chain(chain, conditions)
    return out


def _chain(branches: list[tuple[frozenset[Variant], list[str]]], conditions: Conditions) -> list[str]:
    best: list[str] | None = None
    # The branches are for disjoint variants, so their order does not change what any variant renders.
    orders = itertools.permutations(branches) if len(branches) <= 4 else iter([tuple(branches)])
    for order in orders:
        out: list[str] = []
        possible = conditions.universe
        for n, (owners, lines) in enumerate(order):
            if n and owners == possible:
                out.append("{{- else }}")
            else:
                keyword = "else if" if n else "if"
                out.append(f"{{{{- {keyword} {conditions.test(owners, possible)} }}}}")
            out += lines
            possible -= owners
        out.append("{{- end }}")
        if best is None or sum(map(len, out)) < sum(map(len, best)):
            best = out
    assert best is not None
    return best


def by_variant(lines: Callable[[Variant], list[str]], conditions: Conditions) -> list[str]:
    """Template lines rendering ``lines(variant)`` for each variant (verified by :func:`merge`)."""
    return conditional_lines(merge({variant: lines(variant) for variant in sorted(conditions.universe)}),
                             conditions)


# ---------------------------------------------------------------------------------------------------------------
# The template


def release_template() -> list[str]:
    """The named template giving the index in RELEASES of the release whose rules apply to
    .Values.operatorVersion, as ``releases.parse`` chooses it: the newest listed release that is not newer (a
    pre-release or build suffix is ignored, so ``v0.38.0-rc1`` is v0.38.0); empty: the default release.
    ``semverCompare`` reads ``0.38`` as 0.38.0; values.schema.json refuses anything that is not a version."""
    thresholds = " ".join(f'"{r.major}.{r.minor}.{r.patch}"' for r in releases.RELEASES[1:])
    return [
        f'{{{{- define "{RELEASE_TEMPLATE}" -}}}}',
        "{{- $asked := regexFind `^v?[0-9]+\\.[0-9]+(\\.[0-9]+)?` "
        f'(.Values.operatorVersion | default "{releases.DEFAULT}") -}}}}',
        "{{- $index := 0 -}}",
        f"{{{{- range $i, $since := list {thresholds} -}}}}",
        '{{- if semverCompare (printf ">=%s" $since) $asked }}{{ $index = add1 $i }}{{ end -}}',
        "{{- end -}}",
        "{{- $index -}}",
        "{{- end }}",
    ]


def chart_template() -> str:
    """templates/policy.yaml: the same objects as ``export``, for the release of .Values.operatorVersion and the
    cluster's Kubernetes version (or .Values.kubernetesVersion)."""
    conditions = Conditions(VARIANTS)
    spec = validating_lines()
    legend = ", ".join(f"{index} {release}" for index, release in enumerate(releases.RELEASES))
    minors = " ".join(str(minor) for minor in MINORS[1:])

    def assign(variable: str, value: str | None) -> list[str]:
        return [] if value is None else [f'{{{{- {variable} = "{value}" }}}}']

    lines = [
        "{{- /*",
        "GENERATED from webhook/tools/policy/ by `python -m webhook.tools.policy.chart`: do not edit by hand.",
        "tests/chart/test_policy_mode.py fails when this file and the generator disagree. The same objects as",
        "`connectionpool-webhook policy --operator-version O --kubernetes-version K`, O being .Values.operatorVersion",
        f"(empty: {releases.DEFAULT}) and K .Values.kubernetesVersion or the cluster's version. The lines of the "
        "policy's spec",
        "that not every release and version has are chosen by $r, the index of the release whose rules apply (the",
        "newest listed one not newer than O, as webhook.rules.releases.parse chooses) in",
        f"{legend},",
        f"and $m, the minor of K ({OLDEST[0]}.{OLDEST[1]} for anything older, {NEWEST[0]}.{NEWEST[1]} for anything "
        "newer).",
        "*/}}",
        *release_template(),
        '{{- if has .Values.mode (list "policy" "both") }}',
        '{{- $fullname := include "connectionpool-webhook.fullname" . }}',
        f'{{{{- $r := include "{RELEASE_TEMPLATE}" . | atoi }}}}',
        "{{- $version := .Values.kubernetesVersion | default .Capabilities.KubeVersion.Version }}",
        f"{{{{- $m := {MINORS[0]} }}}}",
        f"{{{{- range $minor := list {minors} }}}}",
        f'{{{{- if semverCompare (printf ">={OLDEST[0]}.%d-0" $minor) $version }}}}{{{{ $m = $minor }}}}{{{{ end }}}}',
        "{{- end }}",
        '{{- $vap := "" }}',
        *by_variant(lambda v: assign("$vap", validating_api_version((1, v[1]))), conditions),
        "apiVersion: {{ $vap }}",
        "kind: ValidatingAdmissionPolicy",
        "metadata:",
        "  name: {{ $fullname }}",
        "  labels:",
        '    {{- include "connectionpool-webhook.labels" . | nindent 4 }}',
        "spec:",
        *conditional_lines(merge(spec), conditions),
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
        *by_variant(lambda v: assign("$map", mutating_api_version((1, v[1]))), conditions),
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
        *_spec_lines(mutating_spec()),  # the same for every release and every version that has the API
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
