"""docker-compose.yml runs the same stack as `svdhub stack up`: same versions, same ports."""

from pathlib import Path
from typing import Any

import yaml

from hub.stack import StackConfig
from hub.stack.kafka import Kafka
from hub.stack.opa import AUTH_FLAGS, Opa


def compose() -> dict[str, Any]:
    path = StackConfig.load().project_root / "docker-compose.yml"
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    services: dict[str, Any] = loaded["services"]
    return services


def host_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).split(":")[-2]) for mapping in service.get("ports", [])}


def test_images_match_the_pinned_versions() -> None:
    config, services = StackConfig.load(), compose()
    assert services["kafka"]["image"] == f"apache/kafka:{config.kafka.version}"
    assert services["opa"]["image"] == f"openpolicyagent/opa:{config.opa.version.lstrip('v')}"
    assert services["postgres"]["image"].startswith("postgres:")


def test_ports_match_the_local_stack() -> None:
    config, services = StackConfig.load(), compose()
    assert host_ports(services["kafka"]) == {config.kafka.port}
    assert host_ports(services["opa"]) == {config.opa.port}
    assert host_ports(services["postgres"]) == {config.postgres.port}
    env = services["postgres"]["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (
        config.postgres.user,
        config.postgres.database,
    )


def test_opa_serves_the_same_bundle() -> None:
    opa = compose()["opa"]
    assert "./.hub/bundle:/bundle:ro" in opa["volumes"]  # what `svdhub policy build` writes
    assert {"--disable-telemetry", "--watch", "/bundle"} <= set(opa["command"])


def test_opa_authenticates_as_the_local_stack_does() -> None:
    config, opa = StackConfig.load(), compose()["opa"]
    assert set(AUTH_FLAGS) <= set(opa["command"])
    # The authz bundle `svdhub stack tokens` writes, served beside the svd bundle.
    authz = Opa(config).authz_dir.relative_to(config.state_dir).as_posix()
    assert f"./.hub/{authz}:/authz:ro" in opa["volumes"]
    assert opa["command"][-2:] == ["/bundle", "/authz"]


def test_no_password_is_committed() -> None:
    password = compose()["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert str(password).startswith("${SVDHUB_PG_PASSWORD:?")


def test_kafka_runs_the_local_stacks_secured_settings(tmp_path: Path) -> None:
    kafka = compose()["kafka"]
    assert "./.hub/compose/kafka:/etc/svdhub:ro" in kafka["volumes"]
    assert "/etc/svdhub/server.properties" in " ".join(kafka["entrypoint"])
    assert not any(key.startswith("KAFKA_") for key in kafka.get("environment", {}))
    folder = Kafka(StackConfig.load(state_dir=tmp_path / "state")).compose_files(tmp_path / "k")
    settings = dict(
        line.split("=", 1)
        for line in (folder / "server.properties").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.startswith((" ", "#"))
    )
    assert settings["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SSL"
    assert settings["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert settings["allow.everyone.if.no.acl.found"] == "false"
    assert settings["super.users"] == "User:admin;User:kafka-broker"
    assert settings["listener.name.controller.ssl.client.auth"] == "required"
    assert "PLAINTEXT" not in (folder / "server.properties").read_text(encoding="utf-8")
    assert (
        (folder / "admin.scram")
        .read_text(encoding="utf-8")
        .startswith("SCRAM-SHA-512=[name=admin,salt=")
    )
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
