"""``check --fix``: defaulting's additions written into the manifests people wrote, and nothing else changed."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from tests.support.manifests import SPEC, manifest, run, run_json
from tests.support.reviews import pool
from webhook.tools import kubeyaml

MESSY = """\
# A file people wrote by hand: comments, odd spacing, quotes, flow maps, anchors.
apiVersion: aiven.io/v1alpha1   # trailing comment
kind: ConnectionPool
metadata:
    name: 'quoted-name'
    labels: {app: "x", tier: y}   # flow
    annotations:
      note: >-
        folded text
        over lines
spec:
    # leading comment in spec
    databaseName: "defaultdb"
    project:    my-project
    serviceName: my-pg
    username: avnadmin
    poolSize: 0x10
    poolMode: !!str transaction
    list:
    - a
    -   b
    extra: |
      keep
        this

    # a comment after the block scalar, still inside spec
# trailing comment at the top level
status:
  ok: yes
--- # second document, flow style
{apiVersion: aiven.io/v1alpha1, kind: ConnectionPool, metadata: {name: flow},
 spec: {databaseName: d, project: p, serviceName: s, username: u}}
---
apiVersion: v1
kind: List
items:
- apiVersion: aiven.io/v1alpha1
  kind: ConnectionPool
  metadata: {name: "123"}
  spec:
    databaseName: d
    project: p
    serviceName: s
    username: u
    connInfoSecretTarget:
      # name to be defaulted
      other: kept
- apiVersion: aiven.io/v1alpha1
  kind: ConnectionPool
  metadata: {name: already}
  spec: {databaseName: d, project: p, serviceName: s, username: u, connInfoSecretTarget: {name: mine}}"""


def test_fix_adds_only_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "messy.yaml"
    path.write_text(MESSY)
    before = list(kubeyaml.load(MESSY))
    result = run(str(path), "--fix")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"fixed {path}: wrote the defaults of 3 ConnectionPools" in result.stderr
    after = path.read_text()
    diff = [line for line in difflib.ndiff(MESSY.splitlines(), after.splitlines()) if line[:1] in "+-"]
    # Block style: whole new lines, indented like their siblings; flow style: text added before the "}".
    assert diff == [
        "+     connInfoSecretTarget:",
        "+         name: quoted-name",
        "-  spec: {databaseName: d, project: p, serviceName: s, username: u}}",
        "+  spec: {databaseName: d, project: p, serviceName: s, username: u, connInfoSecretTarget: {name: flow}}}",
        '+       name: "123"',
    ]
    assert after.index("connInfoSecretTarget:") > after.index("    # a comment after the block scalar")
    assert after.index("connInfoSecretTarget:") < after.index("# trailing comment at the top level")
    # What kubectl now reads is the old objects with the defaults applied; a second run has nothing to add.
    values = [d.value for d in kubeyaml.load(after)]
    assert values[0]["spec"]["connInfoSecretTarget"] == {"name": "quoted-name"}
    assert values[1]["spec"]["connInfoSecretTarget"] == {"name": "flow"}
    assert values[2]["items"][0]["spec"]["connInfoSecretTarget"] == {"other": "kept", "name": "123"}
    assert values[2]["items"][1] == before[2].value["items"][1]
    code, report = run_json(str(path))
    assert code == 0 and all(r["patch"] == [] for r in report["results"])
    again = run(str(path), "--fix")
    assert again.returncode == 0 and path.read_text() == after and "fixed" not in again.stderr


def test_fix_keeps_crlf_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(manifest().replace("\n", "\r\n").encode())
    os.chmod(path, 0o640)
    assert run(str(path), "--fix").returncode == 0
    data = path.read_bytes()
    assert data.endswith(b"  connInfoSecretTarget:\r\n    name: my-pool\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert (path.stat().st_mode & 0o777) == 0o640


def test_a_file_with_nothing_it_could_fix_is_left_alone(tmp_path: Path) -> None:
    # Both objects need the default, but the first shares its spec through an anchor and the second's spec is that
    # alias: nothing can be written, so the file is not rewritten (same inode, same mtime) nor announced as fixed.
    path = tmp_path / "anchored.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems:\n"
                    "- apiVersion: aiven.io/v1alpha1\n  kind: ConnectionPool\n  metadata: {name: a}\n"
                    "  spec: &s {databaseName: d, project: p, serviceName: s, username: u}\n"
                    "- apiVersion: aiven.io/v1alpha1\n  kind: ConnectionPool\n  metadata: {name: b}\n  spec: *s\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a write now could not keep this mtime
    before = path.stat()
    result = run(str(path), "--fix")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"not fixed: {path}:4: spec carries an anchor; other places may share it; "
        'add /spec/connInfoSecretTarget = {"name": "a"}',
        f"not fixed: {path}:8: spec carries an anchor; other places may share it; "  # the alias's target does
        'add /spec/connInfoSecretTarget = {"name": "b"}',
    ]
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_fix_refuses_what_it_cannot_write_safely(tmp_path: Path) -> None:
    shared = tmp_path / "shared.yaml"
    shared.write_text("apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\nmetadata: {name: a}\n"
                      "spec: &s\n" + SPEC)
    json_file = tmp_path / "p.json"
    json_file.write_text(json.dumps(pool()))
    texts = {p: p.read_text() for p in (shared, json_file)}
    result = run(str(shared), str(json_file), "--fix")
    assert result.returncode == 0
    assert f"not fixed: {shared}:1: spec carries an anchor" in result.stderr
    assert f"not fixed: {json_file}:1: --fix does not rewrite JSON" in result.stderr
    assert all(p.read_text() == text for p, text in texts.items())
    stdin = run("--fix", stdin=manifest())
    assert stdin.returncode == 2 and "--fix writes files in place" in stdin.stderr


HEAD = "apiVersion: aiven.io/v1alpha1\nkind: ConnectionPool\n"


def fixed(tmp_path: Path, text: str, name: str = "p.yaml") -> tuple[str, str]:
    """``check --fix`` on one file holding ``text``: what the file then holds, and what the command said."""
    path = tmp_path / name
    path.write_bytes(text.encode())
    result = run(str(path), "--fix")
    assert result.returncode in (0, 1), result.stderr
    return path.read_bytes().decode(), result.stderr


@pytest.mark.parametrize(("name", "written"), [
    ("plain", "plain"), ("a.b", "a.b"), ("Xy", "Xy"),
    # quoted where kubectl would read something else, or where a plain scalar could not start
    ('"on"', '"on"'), ('"1e3"', '"1e3"'), ('"0777"', '"0777"'), ('"~"', '"~"'), ("'a b'", '"a b"'),
    ('"x#y"', '"x#y"'), ('".ab"', '".ab"'), ('"-ab"', '"-ab"'),
    ('"pööl"', '"pööl"'),  # as written, not \u-escaped
])
def test_the_name_is_written_as_kubectl_will_read_it(tmp_path: Path, name: str, written: str) -> None:
    text, _ = fixed(tmp_path, HEAD + f"metadata: {{name: {name}}}\nspec:\n" + SPEC)
    assert text.endswith(SPEC + f"  connInfoSecretTarget:\n    name: {written}\n")


def test_a_list_item_is_indented_like_its_siblings(tmp_path: Path) -> None:
    # Four columns per level inside the item, whose keys sit at column 4: the new mapping follows suit.
    text, _ = fixed(tmp_path, "apiVersion: v1\nkind: List\nitems:\n"
                              "  - apiVersion: aiven.io/v1alpha1\n    kind: ConnectionPool\n    metadata:\n"
                              "        name: deep\n    spec:\n        databaseName: d\n        project: p\n"
                              "        serviceName: s\n        username: u\n")
    assert text.endswith("        username: u\n        connInfoSecretTarget:\n            name: deep\n")


def test_an_empty_flow_mapping_gets_the_name_alone(tmp_path: Path) -> None:
    text, _ = fixed(tmp_path, HEAD + "metadata: {name: p}\nspec:\n" + SPEC + "  connInfoSecretTarget: {}\n")
    assert text.endswith("  connInfoSecretTarget: {name: p}\n")


def test_a_file_without_a_last_newline_gets_one_before_the_default(tmp_path: Path) -> None:
    text, _ = fixed(tmp_path, HEAD + "metadata: {name: p}\nspec:\n" + SPEC.rstrip("\n"))
    assert text == HEAD + "metadata: {name: p}\nspec:\n" + SPEC + "  connInfoSecretTarget:\n    name: p\n"
    assert "\r" not in text  # LF stays LF


def test_the_default_goes_inside_a_one_line_spec(tmp_path: Path) -> None:
    # Denied (three required fields missing), still defaulted: the new key goes into spec, before status.
    text, _ = fixed(tmp_path, HEAD + "metadata: {name: p}\nspec:\n  databaseName: d\nstatus:\n  ok: true\n")
    assert text == (HEAD + "metadata: {name: p}\nspec:\n  databaseName: d\n  connInfoSecretTarget:\n    name: p\n"
                    "status:\n  ok: true\n")


def test_every_object_of_a_file_is_fixed_the_last_one_too(tmp_path: Path) -> None:
    text, notes = fixed(tmp_path, manifest("first") + "---\n" + manifest("last"))
    assert text == (manifest("first") + "  connInfoSecretTarget:\n    name: first\n---\n" + manifest("last")
                    + "  connInfoSecretTarget:\n    name: last\n")
    assert notes == f"fixed {tmp_path / 'p.yaml'}: wrote the defaults of 2 ConnectionPools\n"


def test_every_file_is_fixed_after_one_with_nothing_to_do_or_not_yaml(tmp_path: Path) -> None:
    done, as_json, todo = tmp_path / "done.yaml", tmp_path / "p.json", tmp_path / "todo.yaml"
    done.write_text(manifest(extra="  connInfoSecretTarget: {name: set}\n"))
    as_json.write_text(json.dumps(pool()))
    todo.write_text(manifest("todo"))
    result = run(str(done), str(as_json), str(todo), "--fix")
    assert todo.read_text() == manifest("todo") + "  connInfoSecretTarget:\n    name: todo\n"
    assert result.stderr.splitlines() == [
        f'not fixed: {as_json}:1: --fix does not rewrite JSON; add /spec/connInfoSecretTarget = {{"name": "my-pool"}}',
        f"fixed {todo}: wrote the defaults of 1 ConnectionPool",
    ]


def test_what_was_fixed_is_counted_apart_from_what_was_not(tmp_path: Path) -> None:
    # One object of the file is written, the other's target carries an anchor: one fixed, one named as not.
    text, notes = fixed(tmp_path, manifest("plain") + "---\n" + HEAD + "metadata: {name: shared}\nspec:\n" + SPEC
                        + "  connInfoSecretTarget: &t {other: x}\n")
    path = tmp_path / "p.yaml"
    assert notes.splitlines() == [
        f"not fixed: {path}:11: spec.connInfoSecretTarget carries an anchor; other places may share it; "
        'add /spec/connInfoSecretTarget/name = "shared"',
        f"fixed {path}: wrote the defaults of 1 ConnectionPool",
    ]
    assert text.startswith(manifest("plain") + "  connInfoSecretTarget:\n    name: plain\n---\n")


def test_a_target_reached_through_a_merge_key_is_named_not_written(tmp_path: Path) -> None:
    source = (HEAD + "metadata: {name: merged}\n"
              "x-defaults: &common {databaseName: d, project: p, serviceName: s, username: u,"
              " connInfoSecretTarget: {other: x}}\nspec:\n  <<: *common\n")
    text, notes = fixed(tmp_path, source)
    assert text == source
    assert notes == (f"not fixed: {tmp_path / 'p.yaml'}:1: spec.connInfoSecretTarget is not written as a mapping in "
                     'the file (a merge key or an alias?); add /spec/connInfoSecretTarget/name = "merged"\n')
