"""Where the hub keeps each principal's Kafka client settings.

``<state>/access/<principal>.properties``, one file per principal, 0600 in a
0700 folder, in the Kafka ecosystem's own ``KEY=VALUE`` format
(:class:`wire.kafka_client.ClientSettings`). The broker holds only SCRAM's
salted hashes; these files hold the passwords the hub hands to each principal
(``svdhub access credentials PRINCIPAL``). The stack's ``admin`` is made when
the broker is formatted; every other principal's file is made by
``svdhub access apply``, and ``--rotate`` replaces a password.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from wire.kafka_client import ClientSettings, CredentialsError
from wire.private_files import private_dir

#: The super user of the stack itself.
ADMIN = "admin"

#: A principal's name: the SCRAM user name (``User:<name>`` on the broker).
#: A test namespace's principals are ``<namespace>.<name>``.
PRINCIPAL = re.compile(r"^(?:[a-z0-9][a-z0-9-]{0,39}\.)?[a-z0-9][a-z0-9-]{0,63}$")


def new_password() -> str:
    return secrets.token_urlsafe(32)


class CredentialStore:
    """The credentials files of one hub state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "access"

    def path(self, principal: str) -> Path:
        if not PRINCIPAL.fullmatch(principal):
            raise CredentialsError(f"{principal!r} is not a principal name")
        return self.folder / f"{principal}.properties"

    def exists(self, principal: str) -> bool:
        return self.path(principal).is_file()

    def load(self, principal: str) -> ClientSettings:
        return ClientSettings.load(self.path(principal))

    def create(
        self, principal: str, bootstrap: str, ca_location: Path
    ) -> tuple[ClientSettings, bool]:
        """The principal's settings, made with a new password when missing,
        and whether the password is new. An existing file gets ``bootstrap``
        and ``ca_location`` if they changed."""
        path = self.path(principal)
        if path.is_file():
            current = ClientSettings.load(path)
            wanted = ClientSettings(bootstrap, principal, current.password, ca_location)
            if wanted != current:
                wanted.save(path)
            return wanted, False
        private_dir(self.folder)
        settings = ClientSettings(bootstrap, principal, new_password(), ca_location)
        settings.save(path)
        return settings, True

    def remove(self, principal: str) -> bool:
        """Delete the principal's credentials file, if it has one (a principal
        that is revoked); return whether there was one. A name that is no
        principal's has no file."""
        try:
            path = self.path(principal)
        except CredentialsError:
            return False
        if not path.is_file():
            return False
        path.unlink()
        return True

    def principals(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name.removesuffix(".properties") for p in self.folder.glob("*.properties"))
