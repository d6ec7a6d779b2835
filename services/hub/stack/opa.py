"""Open Policy Agent, built from source with ``go install`` and run as a server.

``install`` runs ``CGO_ENABLED=0 go install github.com/open-policy-agent/opa@<version>``
with ``GOBIN`` in the tools folder and links ``<tools>/bin/opa`` to it, so the
Makefile's policy checks use the same binary. ``start`` runs ``opa run
--server`` on loopback with telemetry off. It serves the bundle that
``hub.bundle.build`` makes from ``policies/`` in the state folder, with
``--watch``: rebuilding the bundle (``svdhub policy build``) changes the
policy revision without a restart.

OPA's API is authenticated and authorised: it runs with
``--authentication=token --authorization=basic``, and a second bundle,
``<state>/opa/authz`` (root ``system``), holds ``policies/system/authz`` and
the SHA-256 of each token (``data.system.identities``). ``start`` makes the
tokens first, once: ``secrets.token_urlsafe(32)`` in
``<state>/opa/tokens/<role>.token`` (0600, folder 0700), for two roles. The
``enforcer`` token may evaluate the rules the enforcer uses and nothing else;
the ``ops`` token, which the readiness probe sends, may read ``/health`` and
the revision in force. No token may write data or policies. Existing tokens
are kept; delete a token file and restart OPA to replace it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from hub.bundle import BundleError, build
from hub.settings import SettingsError, opa_token_file, read_token
from hub.stack.base import require_program
from hub.stack.config import StackConfig
from hub.stack.process import (
    StackError,
    alive,
    cmdline,
    port_open,
    read_pid,
    run,
    spawn,
    terminate,
    wait_until,
)
from wire.private_files import private_dir, write_private

NAME = "opa"
HOST = "127.0.0.1"
MODULE = "github.com/open-policy-agent/opa"
#: The roles OPA knows a bearer token by (see policies/system/authz).
ROLES = ("enforcer", "ops")
#: Every request needs a bearer token, and data.system.authz.allow decides on it.
AUTH_FLAGS = ("--authentication=token", "--authorization=basic")


class Opa:
    """The policy server of the local stack."""

    name = NAME

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.settings = config.opa
        self.binary = config.tools_dir / f"opa-{self.settings.version}" / "opa"
        self.link = config.tools_dir / "bin" / "opa"
        self.home = config.state_dir / "opa"
        self.log_file = self.home / "opa.log"
        self.pid_file = self.home / "opa.pid"
        self.bundle_dir = config.state_dir / "bundle"
        self.authz_dir = self.home / "authz"
        self.authz_policy = config.policies_dir / "system" / "authz" / "authz.rego"

    # -- install -----------------------------------------------------------

    def installed(self) -> bool:
        return self.binary.is_file() and os.access(self.binary, os.X_OK)

    def install(self) -> None:
        if not self.installed():
            go = require_program(NAME, "go")
            staging = self.binary.parent.with_name(self.binary.parent.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(staging), "GOFLAGS": "-trimpath"}
            run(NAME, [go, "install", f"{MODULE}@{self.settings.version}"], env=env, timeout=1800)
            shutil.rmtree(self.binary.parent, ignore_errors=True)
            staging.rename(self.binary.parent)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if not self.link.is_symlink() or self.link.resolve() != self.binary.resolve():
            self.link.unlink(missing_ok=True)
            self.link.symlink_to(os.path.relpath(self.binary, self.link.parent))

    # -- lifecycle ---------------------------------------------------------

    def _address(self) -> str:
        return f"{HOST}:{self.settings.port}"

    def running(self) -> bool:
        # The bundle folder is in this stack's state folder, so it tells our OPA
        # from any other, whatever port either listens on.
        pid = read_pid(self.pid_file)
        return pid is not None and alive(pid, str(self.bundle_dir))

    def start(self) -> None:
        if not self.installed():
            raise StackError(NAME, f"{self.binary} not found; run `svdhub stack install`")
        if port_open(self.settings.port):
            raise StackError(
                NAME,
                f"port {self.settings.port} is already in use by another "
                "process; choose another port in deploy/local/stack.toml",
            )
        private_dir(self.home)
        try:
            build(self.config.policies_dir, self.bundle_dir)
        except BundleError as exc:
            raise StackError(NAME, f"the policy bundle does not build: {exc}") from exc
        self.prepare_auth()
        spawn(
            NAME,
            [
                str(self.binary),
                "run",
                "--server",
                "--addr",
                self._address(),
                "--disable-telemetry",
                *AUTH_FLAGS,
                "--log-level",
                "info",
                "--log-format",
                "json",
                "--watch",
                "--bundle",
                str(self.bundle_dir),
                str(self.authz_dir),
            ],
            self.log_file,
            self.pid_file,
        )

    # -- tokens ------------------------------------------------------------

    def token_file(self, role: str = "enforcer") -> Path:
        """``<state>/opa/tokens/<role>.token``."""
        return opa_token_file(role, self.config.state_dir)

    def token(self, role: str = "enforcer") -> str:
        """The bearer token of ``role``; raises StackError if it was never made."""
        try:
            return read_token(self.token_file(role))
        except SettingsError as exc:
            raise StackError(NAME, f"{exc}; run `svdhub stack up`") from exc

    def ensure_tokens(self) -> dict[str, str]:
        """Each role's token, made if missing (0600 files in a 0700 folder);
        existing tokens are kept, so running it again changes nothing."""
        for role in ROLES:
            path = self.token_file(role)
            private_dir(path.parent)
            if not path.is_file():
                write_private(path, secrets.token_urlsafe(32) + "\n")
        return {role: self.token(role) for role in ROLES}

    def prepare_auth(self) -> None:
        """Make the tokens if missing, and write the authz bundle from them
        (``start`` does this; ``svdhub stack tokens`` too, for docker compose)."""
        self.write_authz(self.ensure_tokens())

    def write_authz(self, tokens: dict[str, str]) -> None:
        """Write the ``system`` bundle OPA authorises its API with: the
        policy, and each token's SHA-256 (never the token) with its role.
        Files are rewritten only when their content changes."""
        if not self.authz_policy.is_file():
            raise StackError(NAME, f"{self.authz_policy} not found")
        identities = {
            hashlib.sha256(token.encode("utf-8")).hexdigest(): role
            for role, token in tokens.items()
        }
        files = {
            ".manifest": json.dumps({"roots": ["system"], "rego_version": 1}),
            "system/authz/authz.rego": self.authz_policy.read_text(encoding="utf-8"),
            "data.json": json.dumps({"system": {"identities": identities}}, sort_keys=True),
        }
        for name, content in files.items():
            target = self.authz_dir / name
            if not target.is_file() or target.read_text(encoding="utf-8") != content:
                write_private(target, content)

    # -- readiness ---------------------------------------------------------

    def ready(self) -> bool:
        # /health?bundles answers 200 only once both bundles are active; it
        # needs the ops token, as every request to OPA needs one.
        try:
            token = read_token(self.token_file("ops"))
        except SettingsError:
            return False
        request = urllib.request.Request(  # noqa: S310 - loopback URL we built
            f"{self.url()}/health?bundles", headers={"Authorization": f"Bearer {token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as reply:  # noqa: S310 - loopback URL we built
                return int(reply.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, deadline: float) -> None:
        pid = read_pid(self.pid_file)
        if pid is not None and self.running() and str(self.authz_dir) not in cmdline(pid):
            raise StackError(
                NAME,
                f"the OPA running (pid {pid}) was started without authentication by an "
                "older svdhub; run `svdhub stack down --only opa`, then `svdhub stack up`",
            )
        wait_until(
            NAME, "ready", self.ready, deadline, log_file=self.log_file, still_running=self.running
        )

    def stop(self) -> None:
        pid = read_pid(self.pid_file)
        if pid is not None:
            terminate(NAME, pid, str(self.bundle_dir), timeout=20)
        self.pid_file.unlink(missing_ok=True)

    # -- description -------------------------------------------------------

    def version(self) -> str:
        if not self.installed():
            return self.settings.version
        out = run(NAME, [str(self.binary), "version"], timeout=30)
        for line in out.splitlines():
            if line.startswith("Version:"):
                return "v" + line.split(":", 1)[1].strip()
        return self.settings.version

    def url(self) -> str:
        return f"http://{HOST}:{self.settings.port}"

    def address(self) -> str:
        return self.url()

    def env(self) -> dict[str, str]:
        return {"OPA_URL": self.url()}
