"""``check --fix``: defaulting's additions written into the manifests people wrote, and nothing else changed."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

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
    notes = result.stderr.splitlines()
    assert [line.split(":")[0] for line in notes] == ["not fixed", "not fixed"], notes
    assert not [line for line in notes if line.startswith("fixed")]
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
