"""Where the local stack lives and how it is configured.

The settings come from ``deploy/local/stack.toml`` (or the file named by
``SVDHUB_STACK_CONFIG``). Two folders hold everything the stack writes:

* the *state* folder (``SVDHUB_HOME``, default ``<project>/.hub``): data,
  logs, pid files, passwords and ``stack.env``;
* the *tools* folder (``SVDHUB_TOOLS``, default ``<project>/.hub/tools``):
  the Kafka jars and the OPA binary. Several state folders (a developer's
  stack and the test suite's) share one tools folder.

The folders and the project root are found by :mod:`hub.settings`, the
runtime settings every hub service reads; this module adds what only the
stack needs (versions, ports) on top.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hub import settings as runtime

CONFIG_ENV = "SVDHUB_STACK_CONFIG"

_MARKER = runtime.PROJECT_MARKER

_Settings = TypeVar("_Settings")


class ConfigError(Exception):
    """The stack configuration file is missing or malformed."""


def find_project_root(start: Path | None = None) -> Path:
    """The project folder (:func:`hub.settings.project_root`); raises
    :class:`ConfigError` when there is none."""
    try:
        return runtime.project_root(start)
    except runtime.SettingsError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class KafkaSettings:
    version: str
    log4j_version: str
    slf4j_version: str
    port: int
    controller_port: int
    heap: str


@dataclass(frozen=True)
class OpaSettings:
    version: str
    port: int


@dataclass(frozen=True)
class PostgresSettings:
    port: int
    database: str
    user: str


@dataclass(frozen=True)
class StackConfig:
    """Everything a component needs to install, start, probe and stop."""

    project_root: Path
    state_dir: Path
    tools_dir: Path
    ready_timeout: float
    kafka: KafkaSettings
    opa: OpaSettings
    postgres: PostgresSettings

    @property
    def policies_dir(self) -> Path:
        """``$SVDHUB_POLICIES``, else ``<project>/policies``: as the hub's commands find it."""
        if os.environ.get(runtime.POLICIES_ENV):
            return runtime.policies_dir()
        return self.project_root / "policies"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "stack.env"

    @classmethod
    def load(
        cls,
        config_file: Path | None = None,
        state_dir: Path | None = None,
        tools_dir: Path | None = None,
    ) -> StackConfig:
        """Read the TOML file; explicit arguments beat environment variables,
        which beat the defaults."""
        root = find_project_root()
        path = config_file or Path(os.environ.get(CONFIG_ENV, root / _MARKER))
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        state = state_dir or runtime.state_home()
        tools = tools_dir or runtime.tools_home()
        return cls(
            project_root=root,
            state_dir=state.resolve(),
            tools_dir=tools.resolve(),
            ready_timeout=float(_section(raw, path, "stack").get("ready_timeout", 90)),
            kafka=_build(KafkaSettings, raw, path, "kafka"),
            opa=_build(OpaSettings, raw, path, "opa"),
            postgres=_build(PostgresSettings, raw, path, "postgres"),
        )

    def with_ports(self, kafka: int, controller: int, opa: int, postgres: int) -> StackConfig:
        """A copy listening on other ports (the test suite uses free ones)."""
        return dataclasses.replace(
            self,
            kafka=dataclasses.replace(self.kafka, port=kafka, controller_port=controller),
            opa=dataclasses.replace(self.opa, port=opa),
            postgres=dataclasses.replace(self.postgres, port=postgres),
        )

    def to_toml(self) -> str:
        """Render the settings back as a stack.toml (used to hand a test stack
        to the ``svdhub`` command)."""
        lines = ["[stack]", f"ready_timeout = {self.ready_timeout:g}"]
        for name, settings in (
            ("kafka", self.kafka),
            ("opa", self.opa),
            ("postgres", self.postgres),
        ):
            lines.append(f"\n[{name}]")
            for field in dataclasses.fields(settings):
                value = getattr(settings, field.name)
                rendered = str(value) if isinstance(value, int) else f'"{value}"'
                lines.append(f"{field.name} = {rendered}")
        return "\n".join(lines) + "\n"


def _section(raw: dict[str, Any], path: Path, name: str) -> dict[str, Any]:
    section = raw.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return section


def _build(kind: type[_Settings], raw: dict[str, Any], path: Path, name: str) -> _Settings:
    section = _section(raw, path, name)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        if field.name not in section:
            raise ConfigError(f"{path}: [{name}] lacks '{field.name}'")
        value = section[field.name]
        expected = int if field.type in ("int", int) else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(
                f"{path}: [{name}] {field.name} must be {expected.__name__}, got {value!r}"
            )
        values[field.name] = value
    unknown = sorted(set(section) - set(values))
    if unknown:
        raise ConfigError(f"{path}: [{name}] has unknown keys: {', '.join(unknown)}")
    return kind(**values)
