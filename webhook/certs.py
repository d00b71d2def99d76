"""Certificate authority and serving/client certificates for the webhook, made with ``cryptography``.

Used by ``connectionpool-webhook certs`` and by ``serve`` for its self-signed development certificates. Keys are
ECDSA P-256: accepted by every kube-apiserver and cheap in the TLS handshake.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
# Backdate certificates a little so a node with a slightly slow clock accepts them at once.
CLOCK_SKEW = dt.timedelta(minutes=5)
DEV_DNS_NAMES = ("localhost",)
DEV_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class KeyPair:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(days: int) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - CLOCK_SKEW, now + dt.timedelta(days=days)


def _key_usage(ca: bool) -> x509.KeyUsage:
    """ECDSA keys only sign: a CA signs certificates and CRLs, a leaf signs handshakes."""
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
    )


def create_ca(common_name: str = "connectionpool-webhook-ca", days: int = 3650) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def issue(
    ca: KeyPair,
    dns_names: list[str] | tuple[str, ...],
    ips: list[str] | tuple[str, ...] = (),
    days: int = 365,
    client: bool = False,
) -> KeyPair:
    """A leaf certificate signed by ``ca``: for serving (SANs as given) or, with ``client``, for client auth."""
    if not dns_names and not ips:
        raise ValueError("a certificate needs at least one DNS name or IP address")
    key = ec.generate_private_key(ec.SECP256R1())
    not_before, not_after = _validity(days)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else ips[0]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(min(not_after, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return KeyPair(key, cert)


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so a reader (or the reloader) never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bundle(out_dir: Path, ca: KeyPair, leaf: KeyPair) -> None:
    """Write ``ca.crt`` and ``tls.crt`` (mode 0644) and ``tls.key`` (mode 0600), each atomically; the key last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / CA_FILE, ca.cert_pem())
    write_atomically(out_dir / CERT_FILE, leaf.cert_pem())
    write_atomically(out_dir / KEY_FILE, leaf.key_pem(), mode=0o600)


def generate(out_dir: Path, dns_names: list[str], ips: list[str], days: int) -> None:
    ca = create_ca(days=max(days, 1))
    write_bundle(out_dir, ca, issue(ca, dns_names, ips, days))


def _usable_dev_bundle(out_dir: Path) -> bool:
    """Reuse dev certificates only if they cover localhost and 127.0.0.1 and stay valid for a while."""
    try:
        cert = x509.load_pem_x509_certificate((out_dir / CERT_FILE).read_bytes())
        serialization.load_pem_private_key((out_dir / KEY_FILE).read_bytes(), password=None)
        x509.load_pem_x509_certificate((out_dir / CA_FILE).read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    covered = set(sans.get_values_for_type(x509.DNSName)) >= set(DEV_DNS_NAMES) and {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    } >= set(DEV_IPS)
    return covered and cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=7)


def ensure_dev_bundle(out_dir: Path, days: int = 365) -> bool:
    """Make sure ``out_dir`` holds a usable development bundle; return True if it had to be created."""
    if _usable_dev_bundle(out_dir):
        return False
    generate(out_dir, list(DEV_DNS_NAMES), list(DEV_IPS), days)
    return True
