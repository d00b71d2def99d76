"""TLS: certificates made by ``certs`` or for development, reloaded when the Secret changes, the protocol floor,
client certificates, and a certificate that cannot be loaded."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support import SERVICE_NAME
from tests.support.commands import cli, make_certs
from tests.support.https import Client, client_context, free_port
from tests.support.reviews import pool, review
from tests.support.servers import ServerProcess
from webhook import certs

pytestmark = [pytest.mark.process]


def peer_fingerprint(client: Client) -> str:
    """SHA-256 of the certificate the server presents to a new connection ("" if it fails verification)."""
    try:
        with client.connect() as sock:
            der = sock.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError:
        return ""
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(cert_file: Path) -> str:
    der = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


class SecretVolume:
    """A directory laid out like a mounted Kubernetes Secret: files are symlinks through a swapped ``..data``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)

    def publish(self, bundle: Path) -> None:
        self.generation += 1
        data_dir = self.root / f"..{self.generation}"
        data_dir.mkdir()
        for name in (certs.CA_FILE, certs.CERT_FILE, certs.KEY_FILE):
            (data_dir / name).write_bytes((bundle / name).read_bytes())
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(data_dir.name)
        os.replace(tmp, self.root / "..data")  # the atomic swap the kubelet does
        for name in (certs.CA_FILE, certs.CERT_FILE, certs.KEY_FILE):
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def volume_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, SecretVolume]]:
    volume = SecretVolume(tmp_path / "secret")
    volume.publish(make_certs(tmp_path / "first"))
    proc = ServerProcess(volume.root, "--tls-reload-interval", "0.2").wait_ready()
    yield proc, volume
    proc.stop()


def test_certificate_swap_is_picked_up_without_restart(volume_server: tuple[ServerProcess, SecretVolume],
                                                       tmp_path: Path) -> None:
    server, volume = volume_server
    first = server.client()
    assert first.post("/validate", review(pool())).status == 200
    old = peer_fingerprint(first)

    second_bundle = make_certs(tmp_path / "second")
    volume.publish(second_bundle)
    new = file_fingerprint(second_bundle / certs.CERT_FILE)
    assert new != old
    # A new connection, trusting the new CA, gets the new certificate.
    fresh = Client(server.port, second_bundle / certs.CA_FILE)
    assert wait_for(lambda: peer_fingerprint(fresh) == new)
    assert fresh.post("/mutate", review(pool())).json()["response"]["allowed"] is True
    # The connection opened before the swap keeps working with its old session.
    assert first.post("/validate", review(pool())).status == 200
    assert server.proc.poll() is None
    first.close()
    fresh.close()


def test_a_broken_certificate_pair_is_refused_and_the_old_one_kept(
        volume_server: tuple[ServerProcess, SecretVolume], tmp_path: Path) -> None:
    server, volume = volume_server
    original = Client(server.port, tmp_path / "first" / certs.CA_FILE)
    before = peer_fingerprint(original)
    a, b = make_certs(tmp_path / "a"), make_certs(tmp_path / "b")
    (a / certs.KEY_FILE).write_bytes((b / certs.KEY_FILE).read_bytes())  # key does not match the certificate
    volume.publish(a)
    assert wait_for(lambda: "certificate reload failed" in server.logs())
    assert peer_fingerprint(original) == before
    assert original.request("GET", "/readyz").status == 200
    original.close()


def test_tls_1_1_is_refused_and_1_2_accepted(server: ServerProcess) -> None:
    ctx = client_context(server.cert_dir / certs.CA_FILE)
    with pytest.warns(DeprecationWarning, match="TLSv1"):
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.warns(DeprecationWarning, match="TLSv1_1"):
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("this OpenSSL cannot speak TLS 1.1 at all")
    client = server.client()
    client.context = ctx
    with pytest.raises(ssl.SSLError):
        client.connect()
    ctx12 = client_context(server.cert_dir / certs.CA_FILE)
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    client.context = ctx12
    with client.connect() as sock:
        assert sock.version() == "TLSv1.2"


def test_wrong_server_name_fails_verification(server: ServerProcess) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        server.client(server_name="other.webhooks.svc").connect()


def test_client_certificates_are_required_with_client_ca(pki: Path, tmp_path: Path) -> None:
    ca = certs.create_ca("apiserver-client-ca")
    other_ca = certs.create_ca("someone-else")
    (tmp_path / "client-ca.crt").write_bytes(ca.cert_pem())
    leaves = {
        "good": certs.issue(ca, ["kube-apiserver"], client=True),
        "other-ca": certs.issue(other_ca, ["kube-apiserver"], client=True),
        "serving-only": certs.issue(ca, ["kube-apiserver"]),  # the right CA, but not made for client auth
    }
    pairs: dict[str, tuple[Path, Path] | None] = {"none": None}
    for name, leaf in leaves.items():
        (tmp_path / f"{name}.crt").write_bytes(leaf.cert_pem())
        (tmp_path / f"{name}.key").write_bytes(leaf.key_pem())
        pairs[name] = (tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
    good = pairs.pop("good")
    server = ServerProcess(pki, "--client-ca", str(tmp_path / "client-ca.crt"))
    try:
        server.wait_ready(cert=good)
        for name, cert in pairs.items():
            # TLS 1.3 reports a refused client certificate on first read, not in the handshake...
            refused = server.client(cert=cert)
            with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
                refused.request("GET", "/readyz")
            refused.close()
            # ...TLS 1.2 in the handshake itself: it is TLS that refuses the client, before any HTTP.
            refused = server.client(cert=cert)
            refused.context.maximum_version = ssl.TLSVersion.TLSv1_2
            with pytest.raises((ssl.SSLError, ConnectionResetError)), refused.connect():
                pass
            # The server lives on, and still answers a client whose certificate it trusts.
            accepted = server.client(cert=good)
            assert accepted.post("/validate", review(pool())).json()["response"]["allowed"] is True, name
            accepted.close()
        assert server.proc.poll() is None
    finally:
        server.stop()


def test_without_client_ca_a_client_needs_no_certificate(server: ServerProcess) -> None:
    client = server.client()
    with client.connect() as sock:
        assert sock.version() in {"TLSv1.2", "TLSv1.3"}
    assert client.post("/validate", review(pool())).status == 200
    client.close()


def test_dev_certificates_are_created_once_and_reused(tmp_path: Path) -> None:
    """`make run` on a fresh machine: no certificate given, so one is made under certs/dev/ and reused."""
    port = free_port()
    dev = tmp_path / "certs" / "dev"
    logs: list[str] = []
    keys: list[bytes] = []
    for run in range(2):
        log_file = tmp_path / f"run-{run}.log"
        with open(log_file, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "webhook", "serve", "--port", str(port)],
                                    cwd=tmp_path, stdout=out, stderr=out)
            try:
                assert wait_for(lambda: _ready(port, dev / certs.CA_FILE)), log_file.read_text()
                client = Client(port, dev / certs.CA_FILE, server_name="localhost")
                assert client.post("/mutate", review(pool())).json()["response"]["patchType"] == "JSONPatch"
                client.close()
            finally:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(30) == 0
        logs.append(log_file.read_text())
        keys.append((dev / certs.KEY_FILE).read_bytes())
    assert [line for line in logs[0].splitlines() if "development certificates" in line].__len__() == 1
    assert "created self-signed development certificates" in logs[0]
    assert "using existing self-signed development certificates" in logs[1]
    assert keys[0] == keys[1]
    assert (dev / certs.KEY_FILE).stat().st_mode & 0o777 == 0o600


def _ready(port: int, ca_file: Path) -> bool:
    if not ca_file.exists():
        return False
    client = Client(port, ca_file, server_name="127.0.0.1")
    try:
        return client.request("GET", "/readyz").status == 200
    except (OSError, ssl.SSLError):
        return False
    finally:
        client.close()


def test_certs_command(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = cli("certs", "--out-dir", str(out), "--dns-name", SERVICE_NAME, "--dns-name", "alt.example",
                 "--ip", "10.0.0.1", "--days", "30")
    assert result.returncode == 0, result.stderr
    ca = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    leaf = x509.load_pem_x509_certificate((out / "tls.crt").read_bytes())
    leaf.verify_directly_issued_by(ca)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [SERVICE_NAME, "alt.example"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert 29 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 31
    # As the README says: the certificates are public, the key is its owner's alone (whatever the umask).
    modes = {name: (out / name).stat().st_mode & 0o777 for name in ("ca.crt", "tls.crt", "tls.key")}
    assert modes == {"ca.crt": 0o644, "tls.crt": 0o644, "tls.key": 0o600}
    # A server on this bundle is trusted, through ca.crt, for each name asked for and for no other.
    server = ServerProcess(out).wait_ready(server_name=SERVICE_NAME)
    try:
        for name in (SERVICE_NAME, "alt.example"):
            with server.client(server_name=name).connect() as sock:
                assert sock.getpeercert(binary_form=True) == leaf.public_bytes(serialization.Encoding.DER)
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            server.client(server_name="other.example").connect()
    finally:
        server.stop()


def test_unloadable_certificate_fails_fast(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("garbage")
    (tmp_path / "tls.key").write_text("garbage")
    result = cli("serve", "--tls-cert", str(tmp_path / "tls.crt"), "--tls-key", str(tmp_path / "tls.key"),
                 cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and "cannot load the serving certificate" in result.stderr
