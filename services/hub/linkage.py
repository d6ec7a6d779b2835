"""The partnership linkage keys the hub knows of: one fingerprint per key version.

The hub never holds the partnership linkage key (see ``wire.linkage``). It
keeps, in ``$SVDHUB_HOME/keys/linkage.yaml`` (0600), the fingerprint the
partnership registered for each key version, so that the enforcer can
quarantine an event made with another key (``hub.enforcer.linkage``)::

    # Fingerprints of the partnership linkage keys, by key version ...
    versions:
      local-1:
        fingerprint: 3f0c9e2a5b7d41e8a6c2f19d0b8e7a54
        registered_at: '2026-11-28T10:15:00Z'

``svdhub linkage register`` adds a version and refuses to change the
fingerprint of one already registered: the fingerprint of a version is the
partnership's for good, so that a changed file can never make a foreign key
look like the partnership's. A new key gets a new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from wire.linkage import FINGERPRINT_LENGTH, is_fingerprint
from wire.private_files import write_private

#: Where the file lives, under the hub's state folder.
LINKAGE_FILE = Path("keys") / "linkage.yaml"

#: The longest key version the hub registers.
MAX_VERSION = 64

_HEADER = (
    "# Fingerprints of the partnership linkage keys, by key version (svdhub linkage\n"
    "# register). Never a key: the hub does not hold the linkage key.\n"
)


class LinkageRegistryError(Exception):
    """The file is unreadable or malformed (the message names the file and the
    field), or a registration would change a registered fingerprint."""


@dataclass(frozen=True)
class RegisteredKey:
    """The partnership's linkage key of one version, by its fingerprint."""

    version: str
    fingerprint: str
    registered_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class LinkageRegistry:
    """Every registered key version (an empty registry when nothing is registered)."""

    keys: Mapping[str, RegisteredKey] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, *, missing_ok: bool = False) -> LinkageRegistry:
        """Read ``path``; a missing file is an empty registry if ``missing_ok``."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            if missing_ok:
                return cls()
            raise LinkageRegistryError(
                f"{path}: not found; register the partnership's linkage key fingerprint "
                "with `svdhub linkage register --version V FINGERPRINT`"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise LinkageRegistryError(f"{path}: cannot read: {exc}") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise LinkageRegistryError(f"{path}: not YAML: {exc}") from exc
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, where: str) -> LinkageRegistry:
        """The registry in ``data`` (as YAML loads it); errors name ``where`` and the field."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise LinkageRegistryError(f"{where}: must be a mapping with 'versions'")
        unknown = sorted(str(key) for key in data if key != "versions")
        if unknown:
            raise LinkageRegistryError(f"{where}: unknown field(s) {', '.join(unknown)}")
        versions = data.get("versions") or {}
        if not isinstance(versions, dict):
            raise LinkageRegistryError(f"{where}: versions: must map key versions to entries")
        keys: dict[str, RegisteredKey] = {}
        for version, entry in versions.items():
            label = f"{where}: versions.{version}"
            if not isinstance(version, str) or (problem := version_problem(version)):
                raise LinkageRegistryError(
                    f"{label}: {problem if isinstance(version, str) else 'must be text'}"
                )
            if not isinstance(entry, dict):
                raise LinkageRegistryError(
                    f"{label}: must be a mapping with fingerprint and registered_at"
                )
            extra = sorted(str(key) for key in entry if key not in ("fingerprint", "registered_at"))
            if extra:
                raise LinkageRegistryError(f"{label}: unknown field(s) {', '.join(extra)}")
            fingerprint = entry.get("fingerprint")
            if not isinstance(fingerprint, str) or not is_fingerprint(fingerprint):
                raise LinkageRegistryError(
                    f"{label}.fingerprint: must be {FINGERPRINT_LENGTH} lowercase hexadecimal "
                    "characters (as `svdhub connector linkage-key --fingerprint` prints)"
                )
            registered_at = entry.get("registered_at")
            if isinstance(registered_at, date):  # an unquoted time, as YAML reads it
                registered_at = registered_at.isoformat()
            if not isinstance(registered_at, str) or not registered_at.strip():
                raise LinkageRegistryError(f"{label}.registered_at: must be a time (text)")
            keys[version] = RegisteredKey(version, fingerprint, registered_at)
        return cls(keys)

    def fingerprint(self, version: str) -> str | None:
        """The registered fingerprint of ``version``, or None."""
        key = self.keys.get(version)
        return key.fingerprint if key is not None else None

    def register(self, version: str, fingerprint: str, when: str) -> LinkageRegistry:
        """This registry with ``version`` added. The same fingerprint again changes
        nothing; another one for a registered version raises."""
        if problem := version_problem(version):
            raise LinkageRegistryError(f"key version {version!r}: {problem}")
        if not is_fingerprint(fingerprint):
            raise LinkageRegistryError(
                f"{fingerprint!r} is not a fingerprint: it must be {FINGERPRINT_LENGTH} "
                "lowercase hexadecimal characters"
            )
        existing = self.keys.get(version)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise LinkageRegistryError(
                    f"key version {version} is registered with fingerprint "
                    f"{existing.fingerprint} (since {existing.registered_at}); a registered "
                    "fingerprint is never changed: a new key needs a new version"
                )
            return self
        return LinkageRegistry({**self.keys, version: RegisteredKey(version, fingerprint, when)})

    def to_yaml(self) -> str:
        versions = {
            version: {"fingerprint": key.fingerprint, "registered_at": key.registered_at}
            for version, key in sorted(self.keys.items())
        }
        return _HEADER + yaml.safe_dump({"versions": versions}, sort_keys=False)

    def save(self, path: Path) -> None:
        """Replace ``path`` with this registry (0600, in a 0700 folder)."""
        write_private(path, self.to_yaml())


def version_problem(version: str) -> str | None:
    """Why ``version`` cannot be a registered key version, or None."""
    if not version.strip() or version != version.strip():
        return "must be non-blank text without leading or trailing spaces"
    if len(version) > MAX_VERSION:
        return f"longer than {MAX_VERSION} characters"
    if any(not character.isprintable() for character in version):
        return "holds a control character"
    return None
