"""``connectionpool-webhook check``: manifests we write, run through the real command line (``--fix``:
test_check_fix.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import ROOT
from tests.support.commands import cli, cli_in_process
from tests.support.manifests import HEAD, SPEC, manifest, run, run_json
from tests.support.reviews import pool
from webhook.rules import ruleset, wording
from webhook.tools import check
from webhook.tools.report.json import result_json
from webhook.tools.report.model import Report

# --- the verdicts --------------------------------------------------------------------------------------------


# (spec line as written, allowed, the cause's reason if denied): the YAML 1.1 reading decides the verdict.
SCALAR_VERDICTS = [
    ("poolSize: 1.0", True, None),  # float64 1 -> JSON 1 -> an integer
    ("poolSize: 1e3", True, None),
    ("poolSize: 0x10", True, None),
    ("poolSize: 1_000", True, None),
    ("poolSize: 0778", True, None),  # not octal: 778
    ("poolSize: 1.5", False, "FieldValueTypeInvalid"),
    ("poolSize: 1e21", False, "FieldValueTypeInvalid"),  # a float: "number"
    ("poolSize: 18446744073709551615", False, "FieldValueTypeInvalid"),  # beyond int64: "number"
    ('poolSize: "10"', False, "FieldValueTypeInvalid"),
    ("poolSize: 1:30", False, "FieldValueTypeInvalid"),  # sexagesimal is a string
    ("poolSize: yes", False, "FieldValueTypeInvalid"),
    ("poolSize: ~", True, None),  # null counts as absent
    ("poolMode: on", False, "FieldValueNotSupported"),  # a boolean in an enum field
    ("poolMode: 'on'", False, "FieldValueNotSupported"),
    ("poolMode: Transaction", False, "FieldValueNotSupported"),
    ("poolMode: !!str transaction", True, None),
    ("poolMode: >-\n    transaction", True, None),
    ("authSecretRef: {name: 2001-12-14, key: token}", True, None),  # a timestamp stays a string
]


def judged(text: str) -> list[dict[str, Any]]:
    """The JSON results of checking ``text``, in-process (the command line is exercised by the tests below)."""
    report = Report("check", ruleset.ruleset())
    check.check_text(text, "pool.yaml", ruleset.ruleset(), report)
    assert not report.problems, report.problems
    return [result_json(r) for r in report.results]


@pytest.mark.parametrize(("line", "allowed", "reason"), SCALAR_VERDICTS, ids=[s[0] for s in SCALAR_VERDICTS])
def test_scalar_readings_decide_the_verdict(line: str, allowed: bool, reason: str | None) -> None:
    (result,) = judged(manifest(spec=SPEC + "  " + line + "\n"))
    assert result["allowed"] is allowed, result
    if reason:
        assert reason in [c["reason"] for c in result["causes"]]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("databaseName", "yes", "FieldValueTypeInvalid"),  # a YAML 1.1 boolean, not the string "yes"
    ("databaseName", "0777", "FieldValueTypeInvalid"),  # the integer 511
    ("databaseName", "2001-12-14", None),  # a string, where PyYAML makes a date
    ("databaseName", '"yes"', None),
    ("username", "~", "FieldValueRequired"),
    ("username", "", "FieldValueRequired"),
    ("project", "null", "FieldValueRequired"),
    ("project", "NULL", "FieldValueRequired"),
    ("project", "nULL", None),
])
def test_required_strings(field: str, value: str, reason: str | None) -> None:
    lines = [line if not line.startswith(f"  {field}:") else f"  {field}: {value}" for line in SPEC.splitlines()]
    (result,) = judged(manifest(spec="\n".join(lines) + "\n"))
    assert [c["reason"] for c in result["causes"]] == ([reason] if reason else [])


def test_the_verdict_is_admit_s_for_every_object() -> None:
    """check takes its verdict from ruleset.admit, the webhook's defaulting and rules: same causes, same
    patch, for good and bad objects alike."""
    objects = [
        pool(), pool(poolMode="bogus", poolSize="x"), pool(project="p" * 64), pool(databaseName=None),
        pool(connInfoSecretTarget={}), pool(connInfoSecretTarget={"name": "mine"}), pool(authSecretRef={"key": ""}),
        {"apiVersion": "aiven.io/v1alpha1", "kind": "ConnectionPool", "metadata": {}, "spec": []},
    ]
    for words in (wording.OLDEST, wording.LATEST):
        report = Report("check", ruleset.ruleset(words=words))
        check.check_text("\n".join(json.dumps(o) for o in objects), "objects.json", ruleset.ruleset(words=words),
                         report)
        assert len(report.results) == len(objects)
        for obj, result in zip(objects, report.results, strict=True):
            admission = ruleset.admit(obj, words)
            assert [c["message"] for c in result.causes] == [e.message for e in admission.errors]
            assert [c["reason"] for c in result.causes] == [str(e.type) for e in admission.errors]
            assert list(result.patch) == list(admission.patch)


def test_kubernetes_version_changes_the_wording(tmp_path: Path) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(manifest(spec=SPEC.replace("my-project", "p" * 64)))
    old = run(str(path), "--kubernetes-version", "1.24")
    new = run(str(path))
    assert "spec.project: Invalid value:" in old.stdout and "should be at most 63 chars long" in old.stdout
    assert "spec.project: Too long:" in new.stdout
    bad = run(str(path), "--kubernetes-version", "one.two")
    assert bad.returncode == 2 and "--kubernetes-version" in bad.stderr and "Traceback" not in bad.stderr


# --- inputs --------------------------------------------------------------------------------------------------


def test_text_output_prints_what_kubectl_prints(tmp_path: Path) -> None:
    path = tmp_path / "pools.yaml"
    path.write_text(
        manifest("good") + "---\n" + manifest("one-cause", spec=SPEC + "  poolMode: bogus\n")
        + "--- # third\n" + manifest("three", spec=SPEC.replace("my-project", "p" * 64)
                                     + "  poolMode: bogus\n  poolSize: '1'\n")
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    result = run(str(path))
    assert result.returncode == 1
    assert result.stdout == (
        f"{path}:11\n"
        'The ConnectionPool "one-cause" is invalid: spec.poolMode: Unsupported value: "bogus": supported values: '
        '"session", "transaction", "statement"\n'
        "\n"
        f"{path}:22\n"
        'The ConnectionPool "three" is invalid:\n'
        "* spec.project: Too long: may not be more than 63 bytes\n"
        '* spec.poolMode: Unsupported value: "bogus": supported values: "session", "transaction", "statement"\n'
        '* spec.poolSize: Invalid value: "string": spec.poolSize in body must be of type integer: "string"\n'
        "\n"
        "3 ConnectionPools checked in 1 file: 1 allowed, 2 denied; 1 other object skipped\n"
    )


def test_lists_directories_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    items = [pool(), pool(poolMode="bogus")]
    items[1]["metadata"]["name"] = "in-list"
    listed = {"apiVersion": "v1", "kind": "List", "items": [*items, {"apiVersion": "v1", "kind": "Secret"}]}
    (tmp_path / "a" / "list.json").write_text(json.dumps(listed, indent=2))
    (tmp_path / "a" / "deeper" / "pool.yml").write_text(manifest("deep"))
    (tmp_path / "a" / "notes.txt").write_text("not: [yaml")
    (tmp_path / "a" / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    code, report = run_json(str(tmp_path / "a"))
    assert code == 1
    files = sorted({r["file"] for r in report["results"]})
    assert files == [str(tmp_path / "a" / "deeper" / "pool.yml"), str(tmp_path / "a" / "list.json")]
    denied = [r for r in report["results"] if not r["allowed"]]
    starts = [i + 1 for i, line in enumerate(json.dumps(listed, indent=2).splitlines()) if line == "    {"]
    assert [(r["name"], r["line"]) for r in denied] == [("in-list", starts[1])]
    assert report["summary"] == {"checked": 3, "allowed": 2, "denied": 1, "skipped": 2, "errors": 0, "files": 3,
                                 "enforcement": "deny", "kubernetesVersion": wording.LATEST.version,
                                 "operatorVersion": "v0.8.0", "exitCode": 1}

    yaml_list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: aiven.io/v1alpha1\n  kind: ConnectionPool\n" \
                "  metadata: {name: from-stdin}\n  spec: {databaseName: d, project: p, serviceName: s}\n"
    for args in ((), ("-",)):
        code, report = run_json(*args, stdin=yaml_list)
        (result,) = report["results"]
        assert code == 1 and result["file"] == "-" and result["line"] == 4
        assert result["causes"] == [{"reason": "FieldValueRequired", "field": "spec.username",
                                     "message": "Required value"}]


def test_a_list_of_any_kind_is_flattened(tmp_path: Path) -> None:
    # `kubectl get connectionpools -o yaml` writes a ConnectionPoolList: kubectl reads any object with non-null
    # items as a list, whatever its kind, and so does check.
    path = tmp_path / "pools.yaml"
    path.write_text("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPoolList\nmetadata: {resourceVersion: '42'}\n"
                    "items:\n"
                    "- apiVersion: aiven.io/v1alpha1\n  kind: ConnectionPool\n  metadata: {name: good}\n"
                    "  spec: {databaseName: d, project: p, serviceName: s, username: u}\n"
                    "- apiVersion: aiven.io/v1alpha1\n  kind: ConnectionPool\n  metadata: {name: bad}\n"
                    "  spec: {databaseName: d, project: p, serviceName: s, username: u, poolMode: bogus}\n")
    code, report = run_json(str(path))
    assert code == 1
    assert [(r["name"], r["line"], r["allowed"]) for r in report["results"]] == [("good", 5, True), ("bad", 9, False)]
    assert (report["summary"]["checked"], report["summary"]["skipped"]) == (2, 0)
    # A cause is placed at its field's line within the item (SARIF shows it).
    (result,) = json.loads(run(str(path), "--output", "sarif").stdout)["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 12}


def test_every_input_is_read_after_one_that_cannot_be(tmp_path: Path) -> None:
    # Missing, a name the system refuses, not UTF-8: each is an error of its own, and the next input is still read.
    (tmp_path / "latin1.yaml").write_bytes(b"\xff")
    (tmp_path / "good.yaml").write_text(manifest())
    long_name = "x" * 300 + ".yaml"
    result = run("missing.yaml", long_name, "latin1.yaml", "good.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("error: missing.yaml: no such file or directory\n"
                             f"error: {long_name}: File name too long\n"
                             "error: latin1.yaml: not UTF-8 text (byte 0)\n")
    assert result.stdout == "1 ConnectionPool checked in 4 files: 1 allowed, 0 denied; 3 inputs could not be read\n"


def test_nothing_left_to_read_is_zero_files(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(manifest())
    result = run(str(tmp_path), "--exclude", "*.yaml")
    assert (result.returncode, result.stdout) == (0, "0 ConnectionPools checked in 0 files: 0 allowed, 0 denied\n")
    assert run_json(str(tmp_path), "--exclude", "*.yaml")[1]["summary"]["files"] == 0


def test_only_connection_pools_of_aiven_io_are_judged(tmp_path: Path) -> None:
    # Another group's ConnectionPool, a scalar document and a List's other kinds are skipped; a ConnectionPool
    # without an apiVersion is judged (and denied for it), and so is a pool that comes after other kinds in a List.
    other_group = manifest("elsewhere").replace("aiven.io/v1alpha1", "example.com/v1")
    no_version = manifest("versionless").replace("apiVersion: aiven.io/v1alpha1\n", "")
    listed = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n- " + (
        manifest("listed").replace("\n", "\n  ").rstrip(" "))
    path = tmp_path / "p.yaml"
    path.write_text("\n---\n".join([other_group, "just text", no_version, listed]))
    code, report = run_json(str(path))
    assert [(r["name"], r["allowed"]) for r in report["results"]] == [("versionless", False), ("listed", True)]
    assert [c["field"] for c in report["results"][0]["causes"]] == ["apiVersion"]
    assert (code, report["summary"]["skipped"]) == (1, 3)
    assert run(str(path)).stdout.endswith("; 3 other objects skipped\n")


def test_exclude(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "pool.yaml").write_text("{{ .Values.broken }}: [\n")
    (tmp_path / "pool.yaml").write_text(manifest())
    assert run(str(tmp_path)).returncode == 2
    result = run(str(tmp_path), "--exclude", "*/templates/*")
    assert result.returncode == 0, result.stdout + result.stderr


def test_json_output_shape(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(manifest("bad", spec=SPEC + "  poolMode: bogus\n", namespace="team-a"))
    code, report = run_json(str(path))
    assert code == 1
    assert report["results"] == [{
        "file": str(path), "line": 1, "kind": "ConnectionPool", "namespace": "team-a", "name": "bad",
        "allowed": False,
        "causes": [{"reason": "FieldValueNotSupported", "field": "spec.poolMode",
                    "message": 'Unsupported value: "bogus": supported values: "session", "transaction", "statement"'}],
        "patch": [{"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "bad"}}],
    }]


def test_junit_output(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(manifest("good") + "---\n" + manifest("bad", spec=SPEC + "  poolMode: bogus\n"))
    result = run("--output", "junit", str(path), str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    root = ET.fromstring(result.stdout)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [c.find("failure") is not None for c in cases] == [False, True, False]
    failure = cases[1].find("failure")
    assert failure is not None and failure.text is not None and "Unsupported value" in failure.text
    assert cases[1].get("line") == "11"
    error = cases[2].find("error")
    assert error is not None and "no such file" in (error.get("message") or "")


# A minimal SARIF 2.1.0 schema: the parts code scanning (GitHub) requires of what we write.
SARIF_SCHEMA = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {
                        "type": "object", "required": ["id"],
                        "properties": {"id": {"type": "string"},
                                       "shortDescription": {"type": "object", "required": ["text"]}}}}}}}},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["ruleId", "message", "locations"],
                    "properties": {
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": 0},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "message": {"type": "object", "required": ["text"]},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "required": ["artifactLocation"], "properties": {
                                "artifactLocation": {"type": "object", "required": ["uri"],
                                                     "properties": {"uri": {"type": "string"}}},
                                "region": {"type": "object", "required": ["startLine"],
                                           "properties": {"startLine": {"type": "integer", "minimum": 1}}}}}}}},
                    },
                }},
            },
        }},
    },
}


def test_sarif_output(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "p.yaml").write_text(manifest("bad", spec=SPEC.replace("  username: avnadmin\n", "")
                                                         + "  poolMode: bogus\n"))
    result = run("deploy", "--output", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    (run_,) = sarif["runs"]
    rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert sorted(rules) == ["FieldValueNotSupported", "FieldValueRequired"]
    located = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                      r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in run_["results"])
    # The missing username points at spec:, the bad poolMode at its own line.
    assert located == [("FieldValueNotSupported", "deploy/p.yaml", 9), ("FieldValueRequired", "deploy/p.yaml", 5)]
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run_["results"])


# --- exit statuses -------------------------------------------------------------------------------------------


def test_exit_statuses(tmp_path: Path) -> None:
    good, bad, broken = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "broken.yaml"
    good.write_text(manifest())
    bad.write_text(manifest(spec=SPEC + "  poolMode: bogus\n"))
    broken.write_text(manifest() + "---\n" + manifest().replace("spec:\n", "spec: [\n"))
    assert run(str(good)).returncode == 0
    assert run(str(bad)).returncode == 1
    assert run(str(bad), "--enforcement", "warn").returncode == 0
    assert run(str(bad), "--enforcement", "dryrun").returncode == 0
    result = run(str(good), str(broken))
    assert result.returncode == 2
    # The line where the parser (libyaml, which go-yaml v2 ports) gives up, in the whole file.
    assert result.stderr == f"error: {broken}:17: did not find expected ',' or ']'\n"
    missing = run(str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and f"{tmp_path / 'nope.yaml'}: no such file or directory" in missing.stderr
    # Unreadable input wins over warn: the check could not be done.
    assert run(str(bad), str(broken), "--enforcement", "warn").returncode == 2


@pytest.mark.process
@pytest.mark.parametrize("args", [
    ("good.yaml",), ("bad.yaml",), ("bad.yaml", "--output", "json"), ("bad.yaml", "--enforcement", "warn"),
    ("good.yaml", "broken.yaml"), ("nope.yaml",), ("--output", "nope"), ("-",),
])
def test_the_in_process_runner_answers_as_the_command_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`make mutation` runs this file's commands in the test process: it must see what a user sees."""
    (tmp_path / "good.yaml").write_text(manifest())
    (tmp_path / "bad.yaml").write_text(manifest(spec=SPEC + "  poolMode: bogus\n"))
    (tmp_path / "broken.yaml").write_text("spec: [\n")
    stdin = manifest(spec=SPEC + "  poolSize: 1.5\n")
    child = cli("check", *args, input=stdin, cwd=tmp_path)
    here = cli_in_process("check", *args, input=stdin, cwd=tmp_path)
    assert (here.returncode, here.stdout) == (child.returncode, child.stdout)
    # argparse names the program after argv[0]: the child's is `__main__.py`.
    assert here.stderr == child.stderr.replace("__main__.py", Path(sys.argv[0]).name)
    assert Path.cwd() != tmp_path


def test_warn_prints_kubectl_warnings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest(spec=SPEC + "  poolMode: bogus\n"))
    result = run(str(bad), "--enforcement", "warn")
    assert 'Warning: spec.poolMode: Unsupported value: "bogus"' in result.stdout
    assert "(enforcement warn: not failing)" in result.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\nmetadata: {name: n}\nspec:\n  poolSize: .nan\n",
     ":5: json: unsupported value: NaN"),
    ("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\nmetadata: {name: n}\nspec:\n  ~: x\n",
     ":5: unsupported map key of type: <nil>, key: <nil>"),
    ("a: 1\n--- {b: 2}\n", ":2: invalid Yaml document separator: {b: 2}"),
    ("\xff", ": not UTF-8 text (byte 0)"),
])
def test_input_kubectl_refuses_is_unreadable(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
    result = run(str(path))
    assert result.returncode == 2
    assert result.stderr == f"error: {path}{message}\n"


def test_a_refused_document_of_another_kind_is_only_skipped(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\ndata:\n  ratio: .nan\n---\n" + manifest())
    code, report = run_json(str(path))
    assert code == 0 and report["summary"]["skipped"] == 1


def test_generate_name_is_judged_after_the_apiserver_names_it(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "metadata:\n  generateName: pool-\nspec:\n" + SPEC)
    code, report = run_json(str(path))
    (result,) = report["results"]
    assert code == 0 and result["allowed"] and result["patch"] == [] and result["warnings"]
    assert result["name"] == "pool-"  # what there is of the name yet


def test_generate_name_is_judged_in_the_clusters_wording(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "metadata:\n  generateName: pool-\nspec:\n" + SPEC.replace("my-project", "p" * 64))
    code, report = run_json(str(path), "--kubernetes-version", "1.28")
    (result,) = report["results"]
    assert code == 1 and [c["message"] for c in result["causes"]] == ["Too long: may not be longer than 63"]


def test_a_name_wins_over_generate_name(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + "metadata:\n  name: given\n  generateName: pool-\nspec:\n" + SPEC)
    code, report = run_json(str(path))
    assert code == 0 and report["results"][0]["name"] == "given"


@pytest.mark.parametrize("metadata", ["{name: 5, namespace: 7}", "[]", "text"])
def test_metadata_of_the_wrong_shape_is_judged_not_shown(tmp_path: Path, metadata: str) -> None:
    # The rules deny it; the report names no object rather than print what is not a name.
    path = tmp_path / "p.yaml"
    path.write_text(HEAD + f"metadata: {metadata}\nspec:\n" + SPEC)
    code, report = run_json(str(path))
    (result,) = report["results"]
    assert code == 1 and (result["name"], result["namespace"], result["allowed"]) == (None, None, False)
    assert "metadata" in {c["field"].split(".")[0] for c in result["causes"]}


def test_pre_commit_hook_definition() -> None:
    import yaml  # noqa: PLC0415

    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "connectionpool-check" and hook["entry"] == "connectionpool-webhook check"
    assert hook["language"] == "python"
    import re  # noqa: PLC0415

    files = re.compile(hook["files"])
    assert files.search("deploy/pool.yaml") and files.search("a.yml") and files.search("x.json")
    assert not files.search("values.yaml.tpl")


@pytest.mark.process
def test_console_script_exit_status(tmp_path: Path) -> None:
    """The installed entry point, as pre-commit and CI call it."""
    script = Path(sys.executable).parent / "connectionpool-webhook"
    path = tmp_path / "bad.yaml"
    path.write_text(manifest(spec=SPEC + "  poolMode: bogus\n"))
    result = subprocess.run([str(script), "check", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "is invalid" in result.stdout
