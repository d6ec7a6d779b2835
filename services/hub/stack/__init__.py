"""The local stack: real Kafka (KRaft), OPA and PostgreSQL on this machine.

``Stack`` drives the three components through the :class:`Component`
contract. ``up`` is idempotent: it starts only what is not running, waits
(bounded by ``ready_timeout``) for each to answer, and writes ``stack.env``.
``down`` stops only the processes this stack's pid files name.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hub.stack.base import Component, Status
from hub.stack.config import ConfigError, StackConfig
from hub.stack.kafka import Kafka
from hub.stack.opa import Opa
from hub.stack.postgres import Postgres
from hub.stack.process import StackError
from wire.private_files import private_dir, write_private

__all__ = ["COMPONENTS", "ConfigError", "Stack", "StackConfig", "StackError", "Status"]

COMPONENTS = ("kafka", "opa", "postgres")
_FACTORIES: dict[str, Callable[[StackConfig], Component]] = {
    "kafka": Kafka,
    "opa": Opa,
    "postgres": Postgres,
}


@dataclass(frozen=True)
class Outcome:
    """What ``up`` did for one component."""

    name: str
    action: str  # "already up" or "started"
    seconds: float


class Stack:
    """A set of components sharing one state folder and one tools folder."""

    def __init__(
        self,
        config: StackConfig,
        only: Iterable[str] = COMPONENTS,
        say: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        unknown = sorted(set(only) - set(COMPONENTS))
        if unknown:
            raise ConfigError(
                f"unknown component(s): {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}"
            )
        self.config = config
        self.say = say
        self.components: list[Component] = [
            _FACTORIES[name](config) for name in COMPONENTS if name in set(only)
        ]

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    def install(self) -> None:
        """Fetch or build whatever is missing (Kafka jars, OPA, PostgreSQL)."""
        for component in self.components:
            missing = not component.installed()
            if missing:
                self.say(f"{component.name}: installing (first run only; this can take minutes)")
            started = time.monotonic()
            component.install()  # idempotent; also refreshes links beside the binaries
            if missing:
                self.say(f"{component.name}: installed in {time.monotonic() - started:.0f} s")

    def up(self) -> list[Outcome]:
        """Start what is not running and wait until everything is ready."""
        private_dir(self.config.state_dir)
        self.install()
        began = time.monotonic()
        deadline = began + self.config.ready_timeout
        started = []
        outcomes: dict[str, Outcome] = {}
        for component in self.components:
            if component.running() and component.ready():
                outcomes[component.name] = Outcome(component.name, "already up", 0.0)
                continue
            if component.running():
                started.append(component)  # launched earlier, still warming up
                continue
            self.say(f"{component.name}: starting")
            component.start()
            started.append(component)
        # Wait for all of them at once, so each reports when it became ready.
        with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
            waits = [pool.submit(self._await_ready, c, deadline, began) for c in started]
        for wait in waits:
            outcome = wait.result()  # re-raises the component's StackError
            outcomes[outcome.name] = outcome
        if any(c.name == "kafka" for c in self.components):
            self.grant_access()
        self.write_env()
        return [outcomes[c.name] for c in self.components]

    def grant_access(self) -> None:
        """Give every principal of the agreements its credentials and ACLs
        (``svdhub access apply``), and the authorities their raw topics."""
        from hub.access.broker import AccessError, apply, raw_topics  # noqa: PLC0415
        from hub.access.plan import plan_from_policies  # noqa: PLC0415
        from hub.access.store import CredentialStore  # noqa: PLC0415
        from hub.bundle import BundleError  # noqa: PLC0415
        from wire.topics import TopicNames  # noqa: PLC0415

        kafka = Kafka(self.config)
        admin = kafka.admin_settings()
        try:
            plan = plan_from_policies(self.config.policies_dir, TopicNames())
            done = apply(plan, admin, CredentialStore(self.config.state_dir), admin.ca_location)
            raw_topics(plan, admin)
        except (AccessError, BundleError) as exc:
            raise StackError("kafka", f"cannot apply the access plan: {exc}") from exc
        self.say(
            f"access: {len(plan.principals)} principals, {len(plan.grants)} ACLs "
            f"({len(done.created)} created, {len(done.deleted)} deleted)"
        )

    @staticmethod
    def _await_ready(component: Component, deadline: float, began: float) -> Outcome:
        component.wait_ready(deadline)
        return Outcome(component.name, "started", time.monotonic() - began)

    def status(self) -> list[Status]:
        result = []
        for component in self.components:
            up = component.running() and component.ready()
            detail = "" if up else ("running, not answering" if component.running() else "")
            result.append(
                Status(component.name, up, component.version(), component.address(), detail)
            )
        return result

    def down(self) -> list[str]:
        """Stop every component this stack started; return the names stopped."""
        stopped = []
        for component in reversed(self.components):
            if component.running():
                self.say(f"{component.name}: stopping")
                component.stop()
                stopped.append(component.name)
            else:
                component.stop()  # clears a stale pid file
        if {c.name for c in self.components} == set(COMPONENTS):
            self.config.env_file.unlink(missing_ok=True)
        return stopped

    def purge(self) -> None:
        """Stop the whole stack and delete its state folder, and PostgreSQL's
        data wherever it lives (under ``/var/tmp`` when the ``postgres`` user
        cannot reach the state folder). Keys, ledger and views in the state
        folder go too; the tools folder stays, even when it is inside."""
        Stack(self.config, say=self.say).down()
        Postgres(self.config).remove_outside_data()
        state, tools = self.config.state_dir, self.config.tools_dir
        if not tools.is_relative_to(state):
            shutil.rmtree(state, ignore_errors=True)
            return
        for entry in state.iterdir() if state.is_dir() else ():
            if tools.is_relative_to(entry):
                continue  # the tools folder, or a folder on the way to it
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for component in self.components:
            values.update(component.env())
        return values

    def write_env(self) -> None:
        """Write ``stack.env`` (KEY=value lines, mode 0600: it holds a password)."""
        if {c.name for c in self.components} != set(COMPONENTS):
            return
        write_private(
            self.config.env_file,
            "".join(f"{key}={value}\n" for key, value in self.env().items()),
        )
