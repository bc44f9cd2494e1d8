"""A local CA and the gateway's server certificate, for set-ups without a PKI of their own.

Stations send their token with every call, so the gateway must speak TLS past loopback; a
station trusts exactly this CA (`ca.pem`, handed out with the station's set-up). Files are
reused across restarts: the CA as long as it exists (re-creating it would orphan every
station's copy), the server certificate while it covers the requested names and is not within
30 days of its end. Keys are written readable by the owner only. P-256 keys and the usual
extensions (CA basic constraints, server-auth EKU, subject alternative names), which both
grpc-core and the SDK's rustls accept.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = timedelta(days=3650)
SERVER_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class GatewayCertificates:
    ca_certificate: bytes
    server_certificate: bytes
    server_private_key: bytes
    ca_path: Path
    server_certificate_path: Path
    server_private_key_path: Path


def ensure_certificates(folder: Path, hosts: Sequence[str]) -> GatewayCertificates:
    """The CA and a server certificate for `hosts` (names or IP addresses) under `folder`.

    Writes `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`, creating only what is
    missing or no longer fits.
    """
    if not hosts:
        raise ValueError("name at least one host the stations connect to")
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = folder / "ca.pem", folder / "ca-key.pem"
    cert_path, key_path = folder / "server.pem", folder / "server-key.pem"

    if ca_path.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{ca_key_path} is not an EC key")
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_key(ca_key_path, ca_key)
        ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        cert_path.unlink(missing_ok=True)  # signed by a CA that is gone

    if not (cert_path.exists() and key_path.exists() and _still_fits(cert_path, ca_cert, hosts)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_certificate(key, ca_key, ca_cert, hosts)
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    return GatewayCertificates(
        ca_certificate=ca_path.read_bytes(),
        server_certificate=cert_path.read_bytes(),
        server_private_key=key_path.read_bytes(),
        ca_path=ca_path,
        server_certificate_path=cert_path,
        server_private_key_path=key_path,
    )


def _names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Both keys sign (ECDSA: the TLS handshake, or certificates); only the CA's signs
    certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AOS station gateway CA")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _still_fits(cert_path: Path, ca_cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return all(name in san for name in _names(hosts))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    os.chmod(path, 0o600)
