"""`connectionpool-webhook policy`: what it prints (the reviewed golden files, the README's example), its options and
what it refuses, and the chart template generated from the same objects.

Some tests call the command line in the test process (``cli.main``), the others run it as a user does
(``command``, in this process too under `make mutation`); tests/tools/test_policy.py checks what the policies do.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support import DATA, ROOT
from tests.support.commands import command
from webhook import cli
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


# What the chart's version switch selects, read the way Helm would: `semverCompare ">=1.N-0" $version` holds from 1.N
# on. A small reader of exactly the if / else if / else / end lines _by_version writes.
SINCE = re.compile(r'^\{\{- (?:if|else if) semverCompare ">=(\d+)\.(\d+)-0" \$version \}\}$')


def selected(lines: list[str], version: tuple[int, int]) -> list[str]:
    out: list[str] = []
    taking, decided = True, False  # inside a branch that applies; whether the chain has chosen one already
    chain = False  # inside an if ... end: Helm refuses an else or end outside one, and we never nest them
    for line in lines:
        match = SINCE.match(line)
        if match:
            assert chain == line.startswith("{{- else if "), line
            chain = True
            taking = not decided and version >= (int(match[1]), int(match[2]))
            decided = decided or taking
        elif line == "{{- else }}":
            assert chain, line
            taking, decided = not decided, True
        elif line == "{{- end }}":
            assert chain, line
            taking, decided, chain = True, False, False
        elif taking:
            out.append(line)
    return out


@pytest.mark.parametrize("eras", [  # lines that align: chosen line by line
    [((1, 28), ["a: 1", "b: old", "c: 3"]), ((1, 30), ["a: 1", "b: new", "c: 3"]),
     ((1, 33), ["a: 1", "b: newer", "c: 4"])],
    [((1, 28), ["a: 1", "b: old"]), ((1, 31), ["a: 1", "b: new", "c: 3"])],  # lines that do not align: whole blocks
    [((1, 28), ["a: 1"]), ((1, 30), ["a: 2", "b: 2"]), ((1, 33), ["a: 3", "b: 3", "c: 3"])],
    [((1, 32), ["only: one"])],
])
def test_the_chart_selects_each_versions_lines(eras: list[tuple[tuple[int, int], list[str]]]) -> None:
    template = chart._by_version(eras)
    for minor in range(20, 40):
        expected = [lines for since, lines in eras if since <= (1, minor)] or [eras[0][1]]  # older: the oldest era
        assert selected(template, (1, minor)) == expected[-1], minor


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
