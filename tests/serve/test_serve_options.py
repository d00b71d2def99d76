"""The options of ``serve`` (and of ``certs``, which makes its certificates): what they refuse, clearly and before
anything starts, from the command line or the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.commands import cli
from tests.support.servers import ServerProcess

pytestmark = [pytest.mark.process]


@pytest.mark.parametrize("version", ["1.28.x", "latest", ""])
def test_an_unknown_kubernetes_version_stops_the_server_with_a_clear_error(pki: Path, version: str) -> None:
    proc = ServerProcess(pki, "--kubernetes-version", version)
    assert proc.proc.wait(30) == 2
    assert "--kubernetes-version" in proc.logs() and "not a Kubernetes version" in proc.logs()
    assert "Traceback" not in proc.logs()
    proc.stop()


@pytest.mark.parametrize(("args", "complaint"), [
    (["certs", "--out-dir", "x"], "--dns-name"),
    (["certs", "--out-dir", "x", "--dns-name", "a", "--days", "0"], "--days"),
    (["certs", "--out-dir", "x", "--ip", "not-an-ip"], "not-an-ip"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--workers", "0"], "--workers"),
    (["serve", "--log-level", "loud"], "--log-level"),
    (["serve", "--tls-cert", "only-cert.pem"], "together"),
])
def test_cli_rejects_bad_options_clearly(args: list[str], complaint: str, tmp_path: Path) -> None:
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert complaint in result.stderr and "Traceback" not in result.stderr


def test_options_come_from_the_environment(tmp_path: Path) -> None:
    result = cli("serve", cwd=tmp_path, env={**os.environ, "WEBHOOK_PORT": "not-a-port"})
    assert result.returncode == 2 and "--port" in result.stderr
