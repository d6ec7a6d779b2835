"""A Kafka principal's client settings, in the Kafka ecosystem's own format.

Every hub service, connector and analyst tool connects to Kafka as one
principal, over ``SASL_SSL`` with ``SCRAM-SHA-512``. Its settings are a file
of ``KEY=VALUE`` lines using the standard Kafka client property names, so any
Kafka client (Java, librdkafka, kafka-python through :meth:`ClientSettings.kafka_python`)
can use them as they are::

    bootstrap.servers=127.0.0.1:19092
    security.protocol=SASL_SSL
    sasl.mechanism=SCRAM-SHA-512
    sasl.username=recipient-vrp
    sasl.password=...
    ssl.ca.location=/path/to/ca.pem

``svdhub access credentials PRINCIPAL`` writes and prints them. A file names
one principal; lines starting with ``#`` or ``!`` are comments. The parser is
strict: an unknown key, a repeated key, a missing one, or a protocol other
than ``SASL_SSL`` is an error naming the file, line and key, because a typo
must never fall back to an unauthenticated connection.

The file holds a password: it is written 0600 (see :mod:`wire.private_files`).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wire.private_files import write_private

#: The only protocol and mechanism the hub accepts.
SECURITY_PROTOCOL = "SASL_SSL"
SASL_MECHANISM = "SCRAM-SHA-512"

#: Environment variable naming a credentials file (used when no
#: ``--credentials FILE`` is given).
CREDENTIALS_ENV = "SVDHUB_KAFKA_CREDENTIALS"

BOOTSTRAP = "bootstrap.servers"
PROTOCOL = "security.protocol"
MECHANISM = "sasl.mechanism"
USERNAME = "sasl.username"
PASSWORD = "sasl.password"  # noqa: S105 - the property's name, not a password
CA_LOCATION = "ssl.ca.location"

KEYS = (BOOTSTRAP, PROTOCOL, MECHANISM, USERNAME, PASSWORD, CA_LOCATION)


class CredentialsError(Exception):
    """A credentials file is missing or malformed; the message names the file,
    the line and the key."""


@dataclass(frozen=True)
class ClientSettings:
    """How one principal connects: where, as whom, and which CA to trust."""

    bootstrap_servers: str
    username: str
    password: str = field(repr=False)
    ca_location: Path

    def __post_init__(self) -> None:
        for name, value in (
            (BOOTSTRAP, self.bootstrap_servers),
            (USERNAME, self.username),
            (PASSWORD, self.password),
        ):
            if not value or any(c in value for c in "\r\n\0"):
                raise CredentialsError(f"{name} must be one non-empty line")

    @property
    def principal(self) -> str:
        """The Kafka principal these settings authenticate as (``User:<name>``)."""
        return f"User:{self.username}"

    def with_bootstrap(self, servers: str | None) -> ClientSettings:
        """A copy connecting to ``servers`` (unchanged when None)."""
        if not servers:
            return self
        return ClientSettings(servers, self.username, self.password, self.ca_location)

    # -- the file format ---------------------------------------------------

    def to_properties(self) -> str:
        values = {
            BOOTSTRAP: self.bootstrap_servers,
            PROTOCOL: SECURITY_PROTOCOL,
            MECHANISM: SASL_MECHANISM,
            USERNAME: self.username,
            PASSWORD: self.password,
            CA_LOCATION: str(self.ca_location),
        }
        return "".join(f"{key}={values[key]}\n" for key in KEYS)

    def save(self, path: Path) -> None:
        """Write the settings to ``path``, mode 0600."""
        write_private(path, self.to_properties())

    @classmethod
    def parse(cls, text: str, source: str = "<credentials>") -> ClientSettings:
        """Read ``KEY=VALUE`` lines. Raises :class:`CredentialsError`."""
        found: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped[0] in "#!":
                continue
            key, sep, value = stripped.partition("=")
            key, value = key.strip(), value.strip()
            where = f"{source}, line {number}"
            if not sep:
                raise CredentialsError(f"{where}: expected KEY=VALUE, got {stripped[:40]!r}")
            if key not in KEYS:
                raise CredentialsError(
                    f"{where}: unknown key {key!r}; expected one of {', '.join(KEYS)}"
                )
            if key in found:
                raise CredentialsError(f"{where}: {key} is given twice")
            found[key] = value
        missing = [key for key in KEYS if not found.get(key)]
        if missing:
            raise CredentialsError(f"{source}: missing {', '.join(missing)}")
        if found[PROTOCOL] != SECURITY_PROTOCOL:
            raise CredentialsError(
                f"{source}: {PROTOCOL} is {found[PROTOCOL]!r}; the hub accepts only "
                f"{SECURITY_PROTOCOL}"
            )
        if found[MECHANISM] != SASL_MECHANISM:
            raise CredentialsError(
                f"{source}: {MECHANISM} is {found[MECHANISM]!r}; the hub accepts only "
                f"{SASL_MECHANISM}"
            )
        return cls(found[BOOTSTRAP], found[USERNAME], found[PASSWORD], Path(found[CA_LOCATION]))

    @classmethod
    def load(cls, path: Path) -> ClientSettings:
        """Read a credentials file. Raises :class:`CredentialsError`."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise CredentialsError(f"{path}: credentials file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"{path}: cannot read: {exc}") from exc
        return cls.parse(text, str(path))

    # -- client libraries --------------------------------------------------

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's clients (``KafkaProducer``,
        ``KafkaConsumer``, ``KafkaAdminClient``)."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": SECURITY_PROTOCOL,
            "sasl_mechanism": SASL_MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_cafile": str(self.ca_location),
            "ssl_check_hostname": True,
        }

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting only the hub's CA (for aiokafka and faust)."""
        try:
            return ssl.create_default_context(cafile=str(self.ca_location))
        except (OSError, ssl.SSLError) as exc:
            raise CredentialsError(f"{self.ca_location}: cannot load the CA: {exc}") from exc

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": SECURITY_PROTOCOL,
            "sasl_mechanism": SASL_MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_context": self.ssl_context(),
        }


def find_credentials(
    given: Path | None,
    default: Path | None,
    environ: Mapping[str, str],
) -> Path:
    """The credentials file to use: ``given`` (``--credentials``), else
    ``$SVDHUB_KAFKA_CREDENTIALS``, else ``default`` when it exists. Raises
    :class:`CredentialsError` saying how to give one."""
    if given is not None:
        return given
    if env := environ.get(CREDENTIALS_ENV):
        return Path(env)
    if default is not None and default.is_file():
        return default
    where = f" or create {default}" if default is not None else ""
    raise CredentialsError(
        f"no Kafka credentials: pass --credentials FILE, set {CREDENTIALS_ENV}{where} "
        "(`svdhub access credentials PRINCIPAL` writes one)"
    )
