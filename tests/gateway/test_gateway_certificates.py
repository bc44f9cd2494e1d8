"""The local CA and server certificate: made once, reused, re-issued only when needed."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509

from gateway.certificates import ensure_certificates


def test_certificates_are_made_once_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / "gateway"
    first = ensure_certificates(folder, ["localhost", "127.0.0.1"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "server-key.pem",
        "server.pem",
    ]
    for key in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE((folder / key).stat().st_mode) == 0o600

    again = ensure_certificates(folder, ["127.0.0.1", "localhost"])
    assert again == first

    cert = x509.load_pem_x509_certificate(first.server_certificate)
    ca = x509.load_pem_x509_certificate(first.ca_certificate)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_a_new_host_gets_a_new_server_certificate_from_the_same_ca(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, ["localhost"])
    second = ensure_certificates(tmp_path, ["localhost", "gateway.example"])
    assert second.ca_certificate == first.ca_certificate
    assert second.server_certificate != first.server_certificate
    cert = x509.load_pem_x509_certificate(second.server_certificate)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(second.ca_certificate))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gateway.example"]
