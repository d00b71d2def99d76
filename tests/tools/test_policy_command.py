"""`connectionpool-webhook policy`: what it prints (the reviewed golden files, the README's example), its options and
what it refuses, and the chart template generated from the same objects.

Some tests call the command line in the test process (``cli.main``), the others run it as a user does
(``command``, in this process too under `make mutation`); tests/tools/test_policy.py checks what the policies do.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.support import DATA, ROOT
from tests.support.commands import command
from webhook import cli
from webhook.rules import releases, wording
from webhook.tools.policy import chart, objects

GOLDEN = DATA / "policy"


@pytest.mark.parametrize(("args", "golden"), [
    (["--kubernetes-version", "1.28"], "policy-1.28.yaml"),
    (["--kubernetes-version", "v1.28.7-gke.1026000"], "policy-1.28.yaml"),
    ([], "policy-newest.yaml"),
])
def test_the_command_prints_the_golden_files(capsys: pytest.CaptureFixture[str], args: list[str],
                                             golden: str) -> None:
    cli.main(["policy", *args])
    assert capsys.readouterr().out == (GOLDEN / golden).read_text()


@pytest.mark.parametrize(("enforcement", "action"), [("deny", "Deny"), ("warn", "Warn"), ("dryrun", "Audit")])
def test_the_binding_takes_the_name_and_the_enforcement(capsys: pytest.CaptureFixture[str], enforcement: str,
                                                        action: str) -> None:
    cli.main(["policy", "--kubernetes-version", "1.30", "--enforcement", enforcement, "--name", "pools.example"])
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ValidatingAdmissionPolicy", "pools.example"), ("ValidatingAdmissionPolicyBinding", "pools.example")]
    assert docs[1]["spec"] == {"policyName": "pools.example", "validationActions": [action]}


@pytest.mark.parametrize(("args", "error"), [
    (["--kubernetes-version", "1.27"], "needs 1.28 or newer"),
    (["--kubernetes-version", "banana"], "not a Kubernetes version"),
    (["--name", "Not_A_Name"], "not a valid object name"),
    (["--name", "a" * 254], "not a valid object name"),
])
def test_bad_options_are_refused_clearly(capsys: pytest.CaptureFixture[str], args: list[str], error: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["policy", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert error in err and "Traceback" not in err


def test_the_chart_template_is_the_generated_one() -> None:
    # As tests/chart/test_policy_mode.py checks, without loading Helm (whose Go runtime mutation testing cannot fork).
    assert (ROOT / chart.CHART_TEMPLATE).read_text() == chart.chart_template()


# What the chart's template selects, read the way Helm would: a small reader of exactly the lines the generator
# writes (if / else if / else / end, with tests over $r, the release's index, and $m, the Kubernetes minor).
CHAIN = re.compile(r"^\{\{- (if|else if|else|end)(?: (.+?))? \}\}$")
CONTROL = re.compile(r"\{\{-?\s*(if|else|end|range|with|define|block)\b")
TOKEN = re.compile(r"\s*(\(|\)|\$[rm]\b|\d+\b|[a-z]+\b)")
FUNCTIONS: dict[str, Callable[..., bool]] = {
    "and": lambda *args: all(args), "or": lambda *args: any(args),
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
}


def holds(test: str, r: int, m: int) -> bool:
    """A template test of the generator's words: `and (ge $r 3) (lt $m 32)`."""
    tokens, at = [], 0
    while at < len(test):
        match = TOKEN.match(test, at)
        assert match, f"not a test the reader knows: {test!r} at {at}"
        tokens.append(match[1])
        at = match.end()
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def call() -> Any:
        name = take()
        assert name in FUNCTIONS, name
        args = []
        while position < len(tokens) and tokens[position] != ")":
            args.append(argument())
        return FUNCTIONS[name](*args)

    def argument() -> Any:
        token = take()
        if token == "(":
            value = call()
            assert take() == ")"
            return value
        return {"$r": r, "$m": m}.get(token) if token.startswith("$") else int(token)

    value = call()
    assert position == len(tokens), test
    return bool(value)


def selected(lines: list[str], r: int, m: int) -> list[str]:
    out: list[str] = []
    taking, decided = True, False  # inside a branch that applies; whether the chain has chosen one already
    chain, closed = False, False  # inside an if ... end (never nested); after its else
    for line in lines:
        match = CHAIN.match(line)
        if not match:
            assert not CONTROL.match(line), f"a control structure the reader does not know: {line}"
            if taking:
                out.append(line)
            continue
        keyword, test = match[1], match[2]
        # Helm refuses an else or end outside an if, and an else if after the else; the generator never nests.
        assert chain == (keyword != "if"), line
        assert not closed or keyword == "end", line
        assert (test is not None) == keyword.endswith("if"), line
        if keyword == "end":
            taking, decided, chain, closed = True, False, False, False
            continue
        chain, closed = True, keyword == "else"
        taking = not decided and (test is None or holds(test, r, m))
        decided = decided or taking
    assert not chain, "an if without its end"
    return out


UNIVERSE = list(itertools.product(range(3), range(28, 33)))


@pytest.mark.parametrize("variants", [
    {v: ["a: 1", "b: 2"] for v in UNIVERSE},  # the same everywhere: no conditions at all
    {(r, m): ["a: 1", "b: old" if m < 30 else "b: new", "c: 3"] for r, m in UNIVERSE},  # by the minor
    {(r, m): ["a: 1", *(["  - added"] if r >= 1 else []), "c: 3"] for r, m in UNIVERSE},  # by the release
    {(r, m): ["x", *(["  - y", "z"] if (r >= 1 and m < 30) or (r == 0 and m >= 31) else []), "w"]
     for r, m in UNIVERSE},  # not one range of either: an or of them
    {(r, m): [f"only {r} {m}"] for r, m in UNIVERSE},  # nothing in common
    {(r, m): [] if m == 28 else ["  - z"] * (m - 28) for r, m in UNIVERSE},  # empty, and repeated lines
    {(r, m): ["reason: I", *(["  - new", "reason: I"] if r == 2 else []), "  - next", "reason: I"]
     for r, m in UNIVERSE},  # a block that diff would start with the line it repeats
])
def test_the_chart_selects_each_variants_lines(variants: dict[tuple[int, int], list[str]]) -> None:
    template = chart.conditional_lines(chart.merge(variants), chart.Conditions(UNIVERSE))
    for (r, m), lines in variants.items():
        assert selected(template, r, m) == lines, (r, m)
    if len({tuple(lines) for lines in variants.values()}) == 1:
        assert template == variants[UNIVERSE[0]]


@pytest.mark.property
@given(st.lists(st.sampled_from(["a", "  - b", "c", "  - d"]), max_size=6).flatmap(
    lambda base: st.dictionaries(st.sampled_from(UNIVERSE), st.lists(st.sampled_from([*base, "e"]), max_size=8))))
def test_any_variants_are_selected_exactly(changed: dict[tuple[int, int], list[str]]) -> None:
    variants = {v: changed.get(v, ["a", "  - b", "c"]) for v in UNIVERSE}
    template = chart.conditional_lines(chart.merge(variants), chart.Conditions(UNIVERSE))
    for (r, m), lines in variants.items():
        assert selected(template, r, m) == lines, (r, m)


def _between(template: str, first: str, last: str) -> list[str]:
    lines = template.splitlines()
    start = lines.index(first) + 1
    return lines[start:lines.index(last, start)]


def test_each_release_and_version_gets_its_policy() -> None:
    # What Helm renders of the template is checked for every release and version by tests/chart/test_policy_mode.py;
    # this reads the generated lines without Helm, against the objects the command prints.
    template = chart.chart_template()
    spec = _between(template, "spec:", "{{- /* One binding per enforcement mode, told apart by the namespace label, "
                                       "like the webhook's entries. */}}")
    vap = _between(template, '{{- $vap := "" }}', "apiVersion: {{ $vap }}")
    map_ = _between(template, '{{- $map := "" }}', "{{- /* Alpha and beta APIs are off unless enabled: auto renders "
                                                   "it where the cluster serves the kind. */}}")
    seen = set()
    for r, release in enumerate(releases.RELEASES):
        for m in range(objects.OLDEST[1], objects.NEWEST[1] + 1):
            exported = {o["kind"]: o for o in objects.export(f"1.{m}", release=release)}
            policy = exported["ValidatingAdmissionPolicy"]
            # The spec written by validations, as the generator does (the next test: the same as written whole).
            assert selected(spec, r, m) == chart._validating_spec_lines(policy["spec"]), (release, m)
            assert selected(vap, r, m) == [f'{{{{- $vap = "{policy["apiVersion"]}" }}}}']
            mutating = exported.get("MutatingAdmissionPolicy")
            assert selected(map_, r, m) == ([f'{{{{- $map = "{mutating["apiVersion"]}" }}}}'] if mutating else [])
            seen.add(tuple(selected(spec, r, m)))
    assert len(seen) > len(releases.RELEASES)  # the lines do differ by release and by version


def test_the_template_writes_each_line_no_more_often_than_one_policy_needs_it() -> None:
    # The compact form: every release and version merged, not a copy of the spec per release (600 KB).
    template = chart.chart_template()
    spec = [line for line in _between(template, "spec:", "{{- /* One binding per enforcement mode, told apart by the "
                                                          "namespace label, like the webhook's entries. */}}")
            if not line.startswith("{{")]
    needed: Counter[str] = Counter()
    for lines in chart.validating_lines().values():
        needed |= Counter(lines)
    assert Counter(spec) == needed


def test_the_validations_written_one_by_one_are_the_spec_written_whole() -> None:
    for release in (releases.RELEASES[0], releases.NEWEST):
        spec = objects.validating_spec(wording.LATEST, release)
        assert chart._validating_spec_lines(spec) == chart._spec_lines(spec)


def test_names_up_to_253_characters_are_accepted() -> None:
    for name in ("a", "a" * 253, "pools.example-1", "1-a.b"):
        assert objects.valid_name(name) == name


@pytest.mark.parametrize("name", ["a" * 254, "", "-a", "a-", "A", "a_b", "a..b", ".a"])
def test_other_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ValueError) as refused:
        objects.valid_name(name)
    assert str(refused.value) == (
        f"{name!r} is not a valid object name: lower-case letters, digits, '-' and '.', starting and ending with a "
        "letter or digit, at most 253 characters")


def test_an_unknown_enforcement_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError) as refused:
        objects.export(None, "block")
    assert str(refused.value) == "enforcement must be one of deny, warn, dryrun, not 'block'"


def test_a_version_without_the_policy_api_is_refused_with_the_oldest() -> None:
    with pytest.raises(objects.UnsupportedVersion) as refused:
        objects.parse_version("v1.27.3")
    assert str(refused.value) == ("Kubernetes 1.27 has no ValidatingAdmissionPolicy with messageExpression and "
                                  "variables; the export needs 1.28 or newer")
    assert objects.parse_version("1.28") == (1, 28) and objects.parse_version(None) == objects.NEWEST


@pytest.mark.parametrize(("version", "golden"), [("1.28", "policy-1.28.yaml"), (None, "policy-newest.yaml")])
def test_command_output_matches_the_reviewed_golden_files(version: str | None, golden: str) -> None:
    args = ["policy"] + (["--kubernetes-version", version] if version else [])
    result = command(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / golden).read_text()
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)][:2] == [
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]


def test_command_options() -> None:
    result = command("policy", "--kubernetes-version", "v1.30.4-gke.1", "--enforcement", "warn",
                     "--name", "pools.example")
    assert result.returncode == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ValidatingAdmissionPolicy", "pools.example"), ("ValidatingAdmissionPolicyBinding", "pools.example")]
    assert docs[1]["spec"] == {"policyName": "pools.example", "validationActions": ["Warn"]}


@pytest.mark.parametrize(("args", "error"), [
    (["--kubernetes-version", "1.27"], "needs 1.28 or newer"),
    (["--kubernetes-version", "banana"], "not a Kubernetes version"),
    (["--enforcement", "block"], "invalid choice"),
    (["--name", "Not_A_Name"], "not a valid object name"),
])
def test_command_refuses_bad_options_clearly(args: list[str], error: str) -> None:
    result = command("policy", *args)
    assert result.returncode == 2
    assert error in result.stderr and "Traceback" not in result.stderr


def test_golden_files_are_what_kubectl_would_apply() -> None:
    for golden in GOLDEN.glob("*.yaml"):
        for doc in yaml.safe_load_all(golden.read_text()):
            assert doc["metadata"]["name"] == objects.DEFAULT_NAME
            assert Path(golden).suffix == ".yaml"


def test_readme_shows_real_output() -> None:
    """The README's example is the command's output, shortened: every line shown (up to a "...") is in it."""
    readme = (ROOT / "README.md").read_text()
    typed = "connectionpool-webhook policy --kubernetes-version 1.30 --enforcement warn"
    block = readme.split(f"$ {typed}\n", 1)[1].split("\n$ ", 1)[0]
    result = command("policy", "--kubernetes-version", "1.30", "--enforcement", "warn")
    output = result.stdout.splitlines()
    shown = [line for line in block.splitlines() if line.strip() != "..."]
    assert len(shown) > 20
    for line in shown:
        head = line.split("...", 1)[0]
        assert any(out.startswith(head) for out in output), line
