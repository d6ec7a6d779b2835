"""Where the local stack lives and how it is configured.

The settings come from ``deploy/local/stack.toml`` (or the file named by
``SVDHUB_STACK_CONFIG``). Two folders hold everything the stack writes:

* the *state* folder (``SVDHUB_HOME``, default ``<project>/.hub``): data,
  logs, pid files, passwords and ``stack.env``;
* the *tools* folder (``SVDHUB_TOOLS``, default ``<project>/.hub/tools``):
  the Kafka jars and the OPA binary. Several state folders (a developer's
  stack and the test suite's) share one tools folder.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

CONFIG_ENV = "SVDHUB_STACK_CONFIG"
HOME_ENV = "SVDHUB_HOME"
TOOLS_ENV = "SVDHUB_TOOLS"
PROJECT_ENV = "SVDHUB_PROJECT"

_MARKER = Path("deploy") / "local" / "stack.toml"

_Settings = TypeVar("_Settings")


class ConfigError(Exception):
    """The stack configuration file is missing or malformed."""


def find_project_root(start: Path | None = None) -> Path:
    """Return the project folder: ``SVDHUB_PROJECT``, else the nearest folder
    at or above ``start`` (default: the working directory) that holds
    ``deploy/local/stack.toml``, else the checkout this package lives in."""
    if env := os.environ.get(PROJECT_ENV):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / _MARKER).is_file():
            return folder
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / _MARKER).is_file():
        return checkout
    raise ConfigError(
        f"cannot find {_MARKER} above {here}; run svdhub from the project folder "
        f"or set {PROJECT_ENV}"
    )


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
        state = state_dir or Path(os.environ.get(HOME_ENV, root / ".hub"))
        tools = tools_dir or Path(os.environ.get(TOOLS_ENV, root / ".hub" / "tools"))
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


def service_address(variable: str, state_dir: Path | None = None) -> str | None:
    """A service address for a hub command: the environment variable
    (``KAFKA_BOOTSTRAP_SERVERS``, ``OPA_URL``, ``DATABASE_URL``), else the value
    ``svdhub stack up`` wrote to ``stack.env`` in the state folder, else None."""
    if value := os.environ.get(variable):
        return value
    state = state_dir or Path(os.environ.get(HOME_ENV, find_project_root() / ".hub"))
    env_file = state / "stack.env"
    if env_file.is_file():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == variable:
                return value.strip()
    return None


def state_home() -> Path:
    """The state folder: ``$SVDHUB_HOME``, else ``<project>/.hub``."""
    return Path(os.environ.get(HOME_ENV, find_project_root() / ".hub")).resolve()
