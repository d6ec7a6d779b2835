"""The local stack's TLS material: a private CA and the broker's certificate.

Made with ``cryptography`` at setup, once, under ``<state>/tls`` (0700):

* ``ca.pem``: the CA certificate. Clients trust it (``ssl.ca.location`` in
  every principal's credentials); it is public;
* ``ca-key.pem``: the CA's private key (0600), kept to renew the broker's
  certificate. It is the hub's own key;
* ``broker.p12``: the broker's key and certificate chain as a PKCS#12 key
  store (0600), with its password in ``broker.password`` (0600). The
  certificate names ``127.0.0.1`` and ``localhost``, is good for server and
  client authentication (the broker presents it on the controller listener,
  which requires it), and has the subject ``CN=kafka-broker``, the broker's
  principal there.

Keys are ECDSA P-256. A broker certificate within 30 days of its end is
renewed by the next :func:`ensure`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wire.private_files import private_dir, write_private

#: The broker's principal on the certificate-authenticated controller listener.
BROKER_NAME = "kafka-broker"

CA_DAYS = 3650
BROKER_DAYS = 825
RENEW_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def keystore(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def keystore_password_file(self) -> Path:
        return self.folder / "broker.password"

    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text(encoding="ascii").strip()


def ensure(folder: Path, now: dt.datetime | None = None) -> TlsFiles:
    """Make the CA and the broker's key store if missing (or the broker's
    certificate is about to end); return where they are."""
    files = TlsFiles(private_dir(folder))
    moment = now or dt.datetime.now(dt.UTC)
    if not (files.ca_cert.is_file() and files.ca_key.is_file()):
        _make_ca(files, moment)
        files.keystore.unlink(missing_ok=True)
    if not _broker_current(files, moment):
        _make_broker(files, moment)
    return files


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make_ca(files: TlsFiles, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name("svdhub local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(
        files.ca_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    write_private(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _broker_current(files: TlsFiles, now: dt.datetime) -> bool:
    if not (files.keystore.is_file() and files.keystore_password_file.is_file()):
        return False
    try:
        loaded = pkcs12.load_pkcs12(
            files.keystore.read_bytes(), files.keystore_password().encode("ascii")
        )
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError):
        return False
    cert = loaded.cert.certificate if loaded.cert else None
    return (
        cert is not None
        and cert.issuer == ca.subject
        and cert.not_valid_after_utc - now > dt.timedelta(days=RENEW_DAYS)
    )


def _make_broker(files: TlsFiles, now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{files.ca_key}: not an EC private key")
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(BROKER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=BROKER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(24)
    store = pkcs12.serialize_key_and_certificates(
        BROKER_NAME.encode(),
        key,
        cert,
        [ca],
        serialization.BestAvailableEncryption(password.encode("ascii")),
    )
    write_private(files.keystore_password_file, password + "\n")
    write_private(files.keystore, store)
