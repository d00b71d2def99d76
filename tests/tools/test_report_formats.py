"""What each ``--output`` format of ``check`` writes, whole, for one run that finds every kind of thing: an allowed
object, a denied one with three causes, a second denial of an already seen reason, an object of another kind, a
file that is missing and stdin that is not YAML.

The expected documents are written out by hand from the formats' own references: kubectl's error lines, the JSON
report's fields, JUnit XML as CI test reporters read it, SARIF 2.1.0 as code scanning reads it. (audit's reports,
which have no files, are checked in test_audit.py.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.manifests import run
from webhook import __version__
from webhook.rules import connectionpool, wording

POOLS = """\
apiVersion: aiven.io/v1alpha1
kind: ConnectionPool
metadata: {name: good, namespace: team-a}
spec: {databaseName: d, project: p, serviceName: s, username: u, connInfoSecretTarget: {name: good}}
---
apiVersion: aiven.io/v1alpha1
kind: ConnectionPool
metadata: {name: bad}
spec:
  databaseName: d
  project: p
  serviceName: s
  poolMode: bogus
  poolSize: "1"
---
apiVersion: aiven.io/v1alpha1
kind: ConnectionPool
metadata: {name: pöol, namespace: team-b}
spec: {databaseName: d, project: p, serviceName: s, username: u, poolMode: Session}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: skipped}
"""
DOCUMENTS = POOLS.split("---\n")  # good, bad, pöol, the ConfigMap
FILE = "my dir/pools.yaml"
SUPPORTED = 'supported values: "session", "transaction", "statement"'
BOGUS = f'Unsupported value: "bogus": {SUPPORTED}'
SESSION = f'Unsupported value: "Session": {SUPPORTED}'
STRING = 'Invalid value: "string": spec.poolSize in body must be of type integer: "string"'
STDIN_ERROR = "did not find expected node content"


def check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``check`` of the pools file (by a relative path with a space), a missing file and stdin that breaks off."""
    (tmp_path / "my dir").mkdir(exist_ok=True)
    (tmp_path / FILE).write_text(POOLS)
    return run(FILE, "missing.yaml", "-", *args, stdin="spec: [\n", cwd=tmp_path)


def test_text(tmp_path: Path) -> None:
    result = check(tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"error: missing.yaml: no such file or directory\nerror: -:2: {STDIN_ERROR}\n"
    assert result.stdout == (
        f"{FILE}:6\n"
        'The ConnectionPool "bad" is invalid:\n'
        f"* spec.poolMode: {BOGUS}\n"
        f"* spec.poolSize: {STRING}\n"
        "* spec.username: Required value\n"
        "\n"
        f"{FILE}:16\n"
        f'The ConnectionPool "pöol" is invalid: spec.poolMode: {SESSION}\n'
        "\n"
        "3 ConnectionPools checked in 3 files: 1 allowed, 2 denied; 1 other object skipped; "
        "2 inputs could not be read\n"
    )


def test_text_counts_one_of_each_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(DOCUMENTS[0] + "---\n" + DOCUMENTS[3] + "---\nspec: [\n")
    result = run(str(path))
    assert result.returncode == 2
    assert result.stdout == ("1 ConnectionPool checked in 1 file: 1 allowed, 0 denied; 1 other object skipped; "
                             "1 input could not be read\n")


@pytest.mark.parametrize("enforcement", ["warn", "dryrun"])
def test_text_in_warn_and_dryrun(tmp_path: Path, enforcement: str) -> None:
    (tmp_path / "p.yaml").write_text(POOLS)
    result = run("p.yaml", "--enforcement", enforcement, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    # warn: what kubectl prints for a warning admission webhook; dryrun: the denial the webhook would have given.
    bad = ([f"Warning: spec.poolMode: {BOGUS}", f"Warning: spec.poolSize: {STRING}",
            "Warning: spec.username: Required value"] if enforcement == "warn" else
           ['The ConnectionPool "bad" is invalid:', f"* spec.poolMode: {BOGUS}", f"* spec.poolSize: {STRING}",
            "* spec.username: Required value"])
    pool = ([f"Warning: spec.poolMode: {SESSION}"] if enforcement == "warn" else
            [f'The ConnectionPool "pöol" is invalid: spec.poolMode: {SESSION}'])
    assert result.stdout.splitlines() == [
        "p.yaml:6", *bad, "", "p.yaml:16", *pool, "",
        f"3 ConnectionPools checked in 1 file: 1 allowed, 2 denied; 1 other object skipped (enforcement {enforcement}:"
        " not failing)",
    ]


def test_json(tmp_path: Path) -> None:
    result = check(tmp_path, "--output", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "results": [
            {"file": FILE, "line": 1, "kind": "ConnectionPool", "namespace": "team-a", "name": "good",
             "allowed": True, "causes": [], "patch": []},
            {"file": FILE, "line": 6, "kind": "ConnectionPool", "namespace": None, "name": "bad", "allowed": False,
             "causes": [{"reason": "FieldValueNotSupported", "field": "spec.poolMode", "message": BOGUS},
                        {"reason": "FieldValueTypeInvalid", "field": "spec.poolSize", "message": STRING},
                        {"reason": "FieldValueRequired", "field": "spec.username", "message": "Required value"}],
             "patch": [{"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "bad"}}]},
            {"file": FILE, "line": 16, "kind": "ConnectionPool", "namespace": "team-b", "name": "pöol",
             "allowed": False, "causes": [{"reason": "FieldValueNotSupported", "field": "spec.poolMode",
                                           "message": SESSION}],
             "patch": [{"op": "add", "path": "/spec/connInfoSecretTarget", "value": {"name": "pöol"}}]},
        ],
        "errors": [{"file": "missing.yaml", "line": None, "message": "no such file or directory"},
                   {"file": "-", "line": 2, "message": STDIN_ERROR}],
        "summary": {"checked": 3, "allowed": 1, "denied": 2, "skipped": 1, "errors": 2, "files": 3,
                    "enforcement": "deny", "kubernetesVersion": wording.LATEST.version, "operatorVersion": "v0.8.0",
                        "exitCode": 2},
    }
    # For people too: indented by two, and text as it is written (not \u-escaped).
    assert result.stdout.startswith('{\n  "results": [\n    {\n      "file": ') and '"name": "pöol"' in result.stdout


def test_junit(tmp_path: Path) -> None:
    result = check(tmp_path, "--output", "junit")
    assert result.returncode == 2
    quoted = "&quot;"
    assert result.stdout == f"""\
<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="connectionpool-webhook check" tests="5" failures="2" errors="2" skipped="0">
  <testsuite name="connectionpool-webhook check" tests="5" failures="2" errors="2" skipped="0">
    <testcase name="ConnectionPool team-a/good ({FILE}:1)" classname="{FILE}" file="{FILE}" line="1" />
    <testcase name="ConnectionPool bad ({FILE}:6)" classname="{FILE}" file="{FILE}" line="6">
      <failure message="The ConnectionPool {quoted}bad{quoted} is invalid:" type="Invalid">\
The ConnectionPool "bad" is invalid:
* spec.poolMode: {BOGUS}
* spec.poolSize: {STRING}
* spec.username: Required value</failure>
    </testcase>
    <testcase name="ConnectionPool team-b/pöol ({FILE}:16)" classname="{FILE}" file="{FILE}" line="16">
      <failure message="The ConnectionPool {quoted}pöol{quoted} is invalid: spec.poolMode: \
{SESSION.replace('"', quoted)}" type="Invalid">The ConnectionPool "pöol" is invalid: spec.poolMode: {SESSION}</failure>
    </testcase>
    <testcase name="missing.yaml" classname="missing.yaml">
      <error message="no such file or directory" type="Unreadable">missing.yaml: no such file or directory</error>
    </testcase>
    <testcase name="-" classname="-">
      <error message="{STDIN_ERROR}" type="Unreadable">-:2: {STDIN_ERROR}</error>
    </testcase>
  </testsuite>
</testsuites>
"""


def rule(reason: str, text: str) -> dict[str, Any]:
    return {"id": reason, "name": reason, "shortDescription": {"text": text},
            "helpUri": "https://github.com/aiven/connectionpool-webhook#what-it-checks",
            "defaultConfiguration": {"level": "error"}}


def sarif_result(reason: str, index: int, level: str, *, name: str, field: str, message: str, line: int,
                 namespace: str = "") -> dict[str, Any]:
    return {
        "ruleId": reason, "ruleIndex": index, "level": level,
        "message": {"text": f'The ConnectionPool "{name}" is invalid: {field}: {message}'},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": "my%20dir/pools.yaml"}, "region": {"startLine": line}},
            "logicalLocations": [{"name": name, "fullyQualifiedName": f"ConnectionPool/{namespace}/{name}",
                                  "kind": "resource"}],
        }],
    }


@pytest.mark.parametrize(("enforcement", "level"), [("deny", "error"), ("warn", "warning"), ("dryrun", "note")])
def test_sarif(tmp_path: Path, enforcement: str, level: str) -> None:
    result = check(tmp_path, "--output", "sarif", "--enforcement", enforcement)
    assert result.returncode == 2
    # A result per cause at its field's line (spec: for the absent username); a rule per reason, listed once.
    assert json.loads(result.stdout) == {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "connectionpool-webhook", "version": __version__,
                "informationUri": "https://github.com/aiven/connectionpool-webhook",
                "rules": [rule("FieldValueNotSupported", "The value is not one of the values the field supports."),
                          rule("FieldValueTypeInvalid", "The value has the wrong JSON type."),
                          rule("FieldValueRequired", "A required field is missing.")],
            }},
            "invocations": [{"executionSuccessful": False, "toolExecutionNotifications": [
                {"level": "error", "message": {"text": "missing.yaml: no such file or directory"},
                 "locations": [{"physicalLocation": {"artifactLocation": {"uri": "missing.yaml"}}}]},
                {"level": "error", "message": {"text": f"-:2: {STDIN_ERROR}"}},  # stdin: nowhere to point
            ]}],
            "results": [
                sarif_result("FieldValueNotSupported", 0, level, name="bad", field="spec.poolMode", message=BOGUS,
                             line=13),
                sarif_result("FieldValueTypeInvalid", 1, level, name="bad", field="spec.poolSize", message=STRING,
                             line=14),
                sarif_result("FieldValueRequired", 2, level, name="bad", field="spec.username",
                             message="Required value", line=9),
                sarif_result("FieldValueNotSupported", 0, level, name="pöol", field="spec.poolMode", message=SESSION,
                             line=19, namespace="team-b"),
            ],
        }],
    }
    assert result.stdout.startswith('{\n  "$schema": ') and '"name": "pöol"' in result.stdout


def test_sarif_points_at_absolute_paths_with_file_uris(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POOLS)
    result = run(str(tmp_path / "p.yaml"), str(tmp_path / "gone.yaml"), "--output", "sarif")
    (run_,) = json.loads(result.stdout)["runs"]
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run_["results"]} == {
        f"file://{tmp_path}/p.yaml"}
    (notification,) = run_["invocations"][0]["toolExecutionNotifications"]
    gone = f"file://{tmp_path}/gone.yaml"
    assert notification["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": gone}}}]


def test_sarif_of_stdin_and_of_a_file_that_breaks_off(tmp_path: Path) -> None:
    # A result read from stdin has nowhere to point but the object; a file's error points at its line.
    (tmp_path / "broken.yaml").write_text("a: 1\n---\nspec: [\n")
    result = run("-", "broken.yaml", "--output", "sarif", stdin=DOCUMENTS[2], cwd=tmp_path)
    (run_,) = json.loads(result.stdout)["runs"]
    assert [r["locations"] for r in run_["results"]] == [[{"logicalLocations": [
        {"name": "pöol", "fullyQualifiedName": "ConnectionPool/team-b/pöol", "kind": "resource"}]}]]
    assert run_["invocations"][0]["toolExecutionNotifications"][0]["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": "broken.yaml"}, "region": {"startLine": 4}}}]


def test_sarif_of_a_clean_run(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(DOCUMENTS[0])
    (run_,) = json.loads(run("p.yaml", "--output", "sarif", cwd=tmp_path).stdout)["runs"]
    assert run_["tool"]["driver"]["rules"] == [] and run_["results"] == []
    assert run_["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_an_object_without_a_name(tmp_path: Path) -> None:
    # kubectl quotes the empty name; the formats name the object "" rather than leave it out or invent one.
    (tmp_path / "p.yaml").write_text("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\nmetadata: {}\n"
                                     "spec: {databaseName: d, project: p, serviceName: s, username: u}\n")
    message = "metadata.name: Required value: name or generateName is required"
    text = run("p.yaml", cwd=tmp_path)
    # Defaulting's warning first, as kubectl prints warnings before the answer.
    assert text.stdout.splitlines()[:3] == ["p.yaml:1", f"Warning: {connectionpool.NAME_NOT_YET_SET}",
                                            f'The ConnectionPool "" is invalid: {message}']
    (sarif,) = json.loads(run("p.yaml", "--output", "sarif", cwd=tmp_path).stdout)["runs"][0]["results"]
    assert sarif["message"]["text"] == f'The ConnectionPool "" is invalid: {message}'
    assert sarif["locations"][0]["logicalLocations"] == [
        {"name": "", "fullyQualifiedName": "ConnectionPool//", "kind": "resource"}]
    junit = run("p.yaml", "--output", "junit", cwd=tmp_path).stdout
    assert '<testcase name="ConnectionPool  (p.yaml:1)" classname="p.yaml" file="p.yaml" line="1">' in junit
