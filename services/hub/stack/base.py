"""The contract every local-stack component meets, and shared install steps."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Protocol

from hub.stack.process import StackError, run


@dataclass(frozen=True)
class Status:
    """What ``svdhub stack status`` prints for one component."""

    name: str
    up: bool
    version: str
    address: str
    detail: str = ""


class Component(Protocol):
    """One service of the local stack (Kafka, OPA or PostgreSQL).

    :class:`hub.stack.Stack` calls these in order: ``install`` (once per
    machine; a no-op when the binaries are present), ``start`` (only when
    ``running`` is false; returns once the process is launched), then
    ``wait_ready`` with a deadline. ``stop`` ends only the process this
    component started, found through its pid file, and is a no-op when
    nothing runs. Every method raises :class:`StackError` on failure.
    """

    name: str

    def installed(self) -> bool:
        """True when the binaries this component runs are in place."""
        ...

    def install(self) -> None:
        """Fetch or build the binaries; idempotent."""
        ...

    def running(self) -> bool:
        """True when the process recorded in this stack's pid file is alive."""
        ...

    def ready(self) -> bool:
        """True when the service answers a real request."""
        ...

    def start(self) -> None:
        """Launch the process (formatting or initialising storage first)."""
        ...

    def wait_ready(self, deadline: float) -> None:
        """Block until ``ready`` or raise at ``deadline`` (monotonic time)."""
        ...

    def stop(self) -> None:
        """Stop the process this stack started, and wait until it has gone."""
        ...

    def version(self) -> str:
        """The version that is (or would be) running."""
        ...

    def address(self) -> str:
        """Where clients connect, e.g. ``127.0.0.1:19092``."""
        ...

    def env(self) -> dict[str, str]:
        """The variables written to ``stack.env`` for this component."""
        ...


def require_program(component: str, program: str, apt_package: str | None = None) -> str:
    """Return the path of ``program``; install its Debian package first if it
    is missing and we may (running as root). Otherwise fail with the command
    the user should run."""
    found = shutil.which(program)
    if found:
        return found
    if apt_package is None:
        raise StackError(component, f"'{program}' is not on PATH; install it and retry")
    apt_install(component, [apt_package])
    found = shutil.which(program)
    if not found:
        raise StackError(component, f"installed {apt_package} but '{program}' is still missing")
    return found


_apt_updated = False


def apt_install(component: str, packages: list[str]) -> None:
    """Install Debian packages with apt-get (root only)."""
    global _apt_updated  # noqa: PLW0603 - one 'apt-get update' per process is enough
    if os.geteuid() != 0:
        raise StackError(
            component,
            f"missing Debian package(s) {' '.join(packages)}; "
            f"run: sudo apt-get install -y {' '.join(packages)}",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        run(component, ["apt-get", "update", "-q"], env=env, timeout=600)
        _apt_updated = True
    run(
        component,
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        env=env,
        timeout=1200,
    )
