"""Runtime settings of the hub: where its state lives and where its services are.

Every hub command and service reads these here:

* the *state* folder, :func:`state_home`: ``$SVDHUB_HOME``, else
  ``<project>/.hub``. Keys, the ledger, the views, API tokens and the policy
  bundle live under it;
* service addresses, :func:`service_address`: ``OPA_URL`` and
  ``DATABASE_URL`` from the environment, else the values ``svdhub stack up``
  wrote to ``<state>/stack.env``;
* a Kafka principal's client settings, :func:`kafka_client`: ``--credentials``,
  else ``$SVDHUB_KAFKA_CREDENTIALS``, else
  ``<state>/access/<principal>.properties`` (:func:`credentials_file`);
* the *project* folder, :func:`project_root` (``$SVDHUB_PROJECT``, else found
  from the working directory), and the *policies* folder, :func:`policies_dir`
  (``$SVDHUB_POLICIES``, else ``<project>/policies``);
* OPA's bearer token, :func:`opa_token`: ``--opa-token-file``, else
  ``OPA_TOKEN``, else the token ``svdhub stack up`` made in
  ``<state>/opa/tokens/enforcer.token`` (:func:`opa_token_file`);
* the *tools* folder, :func:`tools_home` (``$SVDHUB_TOOLS``, else
  ``<project>/.hub/tools``), for the OPA binary that ``svdhub policy`` runs.

Folders the hub makes in the state folder are created mode 0700
(:func:`state_folder`; see :mod:`wire.private_files`).

This module reads the environment and files only; it imports nothing of the
hub. The local dev stack (``hub.stack``) builds on it, never the other way
round, so a service loads none of the stack's installers.
"""

from __future__ import annotations

import os
from pathlib import Path

from wire.kafka_client import ClientSettings, find_credentials
from wire.private_files import private_dir
from wire.topics import NAMESPACE_ENV

HOME_ENV = "SVDHUB_HOME"
TOOLS_ENV = "SVDHUB_TOOLS"
PROJECT_ENV = "SVDHUB_PROJECT"
POLICIES_ENV = "SVDHUB_POLICIES"

OPA_ENV = "OPA_URL"
DATABASE_ENV = "DATABASE_URL"
OPA_TOKEN_ENV = "OPA_TOKEN"  # noqa: S105 - the variable's name, not a token

# The file that marks the project folder.
PROJECT_MARKER = Path("deploy") / "local" / "stack.toml"


class SettingsError(Exception):
    """A setting cannot be found; the message says how to give it."""


class AddressMissing(SettingsError):
    """No address is known for a service."""

    def __init__(self, what: str, variable: str) -> None:
        super().__init__(f"no {what} address: set {variable}, or run `svdhub stack up`")
        self.what = what
        self.variable = variable


def project_root(start: Path | None = None) -> Path:
    """The project folder: ``$SVDHUB_PROJECT``, else the nearest folder at or
    above ``start`` (default: the working directory) that holds
    ``deploy/local/stack.toml``, else the checkout this package lives in."""
    if env := os.environ.get(PROJECT_ENV):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / PROJECT_MARKER).is_file():
        return checkout
    raise SettingsError(
        f"cannot find {PROJECT_MARKER} above {here}; run svdhub from the project folder "
        f"or set {PROJECT_ENV}"
    )


def state_home() -> Path:
    """The state folder: ``$SVDHUB_HOME``, else ``<project>/.hub``."""
    if env := os.environ.get(HOME_ENV):
        return Path(env).resolve()
    return (project_root() / ".hub").resolve()


def state_folder(*parts: str) -> Path:
    """``<state>/<parts...>``, created if missing: the state folder and each
    folder made on the way get mode 0700; existing ones are left as they are."""
    return private_dir(state_home().joinpath(*parts))


def tools_home() -> Path:
    """The tools folder (Kafka's jars, the OPA binary): ``$SVDHUB_TOOLS``, else
    ``<project>/.hub/tools``."""
    if env := os.environ.get(TOOLS_ENV):
        return Path(env).resolve()
    return (project_root() / ".hub" / "tools").resolve()


def policies_dir() -> Path:
    """The agreements, parties and Rego: ``$SVDHUB_POLICIES``, else
    ``<project>/policies``. A partnership whose IG leads keep the policies in
    a repository of their own points the hub at that checkout."""
    if env := os.environ.get(POLICIES_ENV):
        return Path(env).resolve()
    return project_root() / "policies"


def opa_binary() -> Path:
    """The OPA binary that ``svdhub stack install`` built and linked as
    ``<tools>/bin/opa`` (it may not exist yet)."""
    return tools_home() / "bin" / "opa"


def service_address(variable: str, state_dir: Path | None = None) -> str | None:
    """A service's address: the environment variable (``KAFKA_BOOTSTRAP_SERVERS``,
    ``OPA_URL``, ``DATABASE_URL``), else the value ``svdhub stack up`` wrote to
    ``stack.env`` in the state folder, else None."""
    if value := os.environ.get(variable):
        return value
    env_file = (state_dir or state_home()) / "stack.env"
    if env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == variable:
                return value.strip()
    return None


def opa_address(given: str | None = None) -> str:
    """OPA's URL: ``given``, else :func:`service_address`; raises
    :class:`AddressMissing` when there is none."""
    found = given or service_address(OPA_ENV)
    if not found:
        raise AddressMissing("OPA", OPA_ENV)
    return found


def credentials_file(principal: str, namespace: str | None = None) -> Path:
    """Where ``svdhub access apply`` keeps a principal's Kafka client settings:
    ``<state>/access/<principal>.properties``, or ``<namespace>.<principal>``
    under a topic namespace (``$SVDHUB_TOPIC_NAMESPACE`` when not given)."""
    space = os.environ.get(NAMESPACE_ENV, "") if namespace is None else namespace
    name = f"{space}.{principal}" if space else principal
    return state_home() / "access" / f"{name}.properties"


def kafka_client(
    principal: str, credentials: Path | None = None, bootstrap: str | None = None
) -> ClientSettings:
    """How to connect to Kafka as ``principal``: the ``credentials`` file
    (``--credentials``), else ``$SVDHUB_KAFKA_CREDENTIALS``, else
    :func:`credentials_file`; ``bootstrap`` (``--bootstrap``) replaces the
    file's servers. Raises :class:`wire.kafka_client.CredentialsError`."""
    path = find_credentials(credentials, credentials_file(principal), os.environ)
    return ClientSettings.load(path).with_bootstrap(bootstrap)


def opa_token_file(role: str = "enforcer", state_dir: Path | None = None) -> Path:
    """Where ``svdhub stack up`` keeps the bearer token OPA knows ``role`` by
    (``enforcer`` or ``ops``): ``<state>/opa/tokens/<role>.token``, mode 0600
    in a 0700 folder. OPA itself holds only the token's SHA-256."""
    return (state_dir or state_home()) / "opa" / "tokens" / f"{role}.token"


def read_token(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace removed); raises
    :class:`SettingsError` when the file is missing, unreadable or empty."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the OPA token in {path}: {exc.strerror}") from exc
    if not token:
        raise SettingsError(f"the OPA token file {path} is empty")
    return token


def opa_token(token_file: Path | None = None) -> str:
    """The enforcer's bearer token for OPA: the one in ``token_file`` when
    given (``--opa-token-file``), else ``$OPA_TOKEN``, else the one ``svdhub
    stack up`` made, :func:`opa_token_file`. Raises :class:`SettingsError`
    when there is none, saying how to give one."""
    if token_file is not None:
        return read_token(token_file)
    if token := os.environ.get(OPA_TOKEN_ENV, "").strip():
        return token
    default = opa_token_file()
    if not default.is_file():
        raise SettingsError(
            f"no OPA token: pass --opa-token-file, set {OPA_TOKEN_ENV}, or run "
            f"`svdhub stack up` (it makes {default})"
        )
    return read_token(default)
