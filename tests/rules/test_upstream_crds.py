"""The schema we export per release (``connectionpool-webhook schema --operator-version``) against the CRD that
aiven-operator release shipped, read at test time from ../shared/upstream-crds (another project's files: never copied
into this repository). A fresh clone has no ../shared: this cross-check is then skipped, saying why; every other test
of the releases runs on our own cases (test_releases.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.support import ROOT
from tests.support.commands import command
from webhook.rules.releases import RELEASES, Release

UPSTREAM = ROOT.parent / "shared" / "upstream-crds"
# What structure means here: what the apiserver validates with. Descriptions are words; `format` the apiserver ignores
# where it does not know it (v0.8.0's `format: ^[a-zA-Z0-9_-]*$` on project, shared/upstream-crds/README.md).
IGNORED = {"description", "format"}


def upstream_spec(release: Release) -> dict[str, Any]:
    path = UPSTREAM / f"connectionpools-{release}.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is not here (a fresh clone has no ../shared): the cross-check with the upstream CRDs "
                    "runs where it is (CI)")
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    spec: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def structure(schema: Any) -> Any:
    """A schema with only what validates: lists of names as sets, CEL rules with their whitespace normalised."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in IGNORED:
                continue
            if key == "required":
                out[key] = sorted(value)
            elif key == "x-kubernetes-validations":
                out[key] = [{"rule": " ".join(v["rule"].split()), "message": " ".join(v["message"].split())}
                            for v in value]
            else:
                out[key] = structure(value)
        return out
    return schema


def exported_spec(release: Release) -> dict[str, Any]:
    result = command("schema", "--operator-version", str(release))
    assert result.returncode == 0, result.stderr
    spec: dict[str, Any] = json.loads(result.stdout)["properties"]["spec"]
    return spec


@pytest.mark.parametrize("release", RELEASES, ids=str)
def test_the_exported_spec_schema_is_the_releases_crds(release: Release) -> None:
    assert structure(exported_spec(release)) == structure(upstream_spec(release))


def test_every_release_in_shared_is_listed() -> None:
    if not UPSTREAM.is_dir():
        pytest.skip(f"{UPSTREAM} is not here (a fresh clone has no ../shared)")
    found = sorted(re.findall(r"connectionpools-(v[\d.]+)\.yaml", " ".join(p.name for p in UPSTREAM.iterdir())))
    assert sorted(found) == sorted(str(r) for r in RELEASES)
    copies = [path for folder in ("webhook", "tests", "charts", "docs", "bench", "hack")
              for path in (ROOT / folder).rglob("connectionpools-v*.yaml")]
    assert not copies, "the upstream CRDs are never copied in"
