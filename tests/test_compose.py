"""docker-compose.yml runs the same stack as `svdhub stack up`: same versions, same ports."""

from typing import Any

import yaml

from hub.stack import StackConfig
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
