"""Open Policy Agent, built from source with ``go install`` and run as a server.

``install`` runs ``CGO_ENABLED=0 go install github.com/open-policy-agent/opa@<version>``
with ``GOBIN`` in the tools folder and links ``<tools>/bin/opa`` to it, so the
Makefile's policy checks use the same binary. ``start`` runs ``opa run
--server`` on loopback with telemetry off. It serves the bundle that
``hub.bundle.build`` makes from ``policies/`` in the state folder, with
``--watch``: rebuilding the bundle (``svdhub policy build``) changes the
policy revision without a restart.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request

from hub.bundle import BundleError, build
from hub.stack.base import require_program
from hub.stack.config import StackConfig
from hub.stack.process import (
    StackError,
    alive,
    port_open,
    read_pid,
    run,
    spawn,
    terminate,
    wait_until,
)
from wire.private_files import private_dir

NAME = "opa"
HOST = "127.0.0.1"
MODULE = "github.com/open-policy-agent/opa"


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
        spawn(
            NAME,
            [
                str(self.binary),
                "run",
                "--server",
                "--addr",
                self._address(),
                "--disable-telemetry",
                "--log-level",
                "info",
                "--log-format",
                "json",
                "--watch",
                "--bundle",
                str(self.bundle_dir),
            ],
            self.log_file,
            self.pid_file,
        )

    def ready(self) -> bool:
        # /health?bundles answers 200 only once the policies bundle is active.
        try:
            with urllib.request.urlopen(f"{self.url()}/health?bundles", timeout=2) as reply:  # noqa: S310 - loopback URL we built
                return int(reply.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, deadline: float) -> None:
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
