"""Kafka's storage is formatted with a cluster id made as Kafka makes one, and the
broker it prepares is secured (SASL_SSL, SCRAM-SHA-512, ACLs, an admin super user)."""

from __future__ import annotations

import base64
import stat
import uuid
from pathlib import Path

import pytest

from hub.stack import StackConfig
from hub.stack import kafka as kafka_module
from hub.stack.kafka import Kafka, _kafka_cluster_id
from tests.fixtures.services import free_port, unavailable

# 16 bytes whose URL-safe base64 starts with "-" (a first byte of 0xF8-0xFB).
DASH_BYTES = bytes([0xF8]) + bytes(range(1, 16))
DASH_ID = base64.urlsafe_b64encode(DASH_BYTES).decode("ascii").rstrip("=")


def test_cluster_ids_never_start_with_a_dash() -> None:
    ids = [_kafka_cluster_id() for _ in range(20_000)]
    # Without the redraw about 1 in 64 (some 300 here) would start with "-".
    assert not [cid for cid in ids if cid.startswith("-")]
    assert len(set(ids)) == len(ids)
    for cid in ids[:100]:
        assert len(cid) == 22
        assert uuid.UUID(bytes=base64.urlsafe_b64decode(cid + "==")).version == 4


def test_cluster_id_draws_again_for_reserved_ids_and_a_leading_dash() -> None:
    good = uuid.uuid4().bytes
    while base64.urlsafe_b64encode(good).startswith(b"-"):
        good = uuid.uuid4().bytes
    draws = iter([bytes(16), bytes(15) + b"\x01", DASH_BYTES, good])
    assert DASH_ID.startswith("-")
    cid = _kafka_cluster_id(lambda: next(draws))
    assert cid == base64.urlsafe_b64encode(good).decode("ascii").rstrip("=")


@pytest.mark.slow
def test_storage_formats_with_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real StorageTool from the installed jars, on a temporary folder."""
    config = StackConfig.load(state_dir=tmp_path / "state").with_ports(
        kafka=free_port(), controller=free_port(), opa=free_port(), postgres=free_port()
    )
    kafka = Kafka(config)
    if not kafka.installed():
        unavailable("kafka", f"jars not found in {kafka.libs}")
    monkeypatch.setattr(kafka_module, "_kafka_cluster_id", lambda: DASH_ID)
    kafka.prepare()
    meta = (kafka.data_dir / "meta.properties").read_text(encoding="utf-8")
    assert f"cluster.id={DASH_ID}\n" in meta


@pytest.mark.slow
def test_the_broker_is_secured_and_its_admin_has_credentials(tmp_path: Path) -> None:
    """``prepare`` writes a broker that only speaks SASL_SSL with SCRAM-SHA-512,
    denies what no ACL allows, and knows ``admin`` as its super user; the admin's
    client settings trust the stack's own CA. Formatting again with the same
    settings keeps the admin's password."""
    config = StackConfig.load(state_dir=tmp_path / "state").with_ports(
        kafka=free_port(), controller=free_port(), opa=free_port(), postgres=free_port()
    )
    kafka = Kafka(config)
    if not kafka.installed():
        unavailable("kafka", f"jars not found in {kafka.libs}")
    kafka.prepare()
    properties = kafka.properties.read_text(encoding="utf-8")
    for line in (
        f"SASL_SSL://127.0.0.1:{config.kafka.port}",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:admin;",
        "auto.create.topics.enable=false",
    ):
        assert line in properties, line
    assert "PLAINTEXT://" not in properties
    admin = kafka.admin_settings()
    assert admin.username == "admin"
    assert admin.bootstrap_servers.endswith(f":{config.kafka.port}")
    assert admin.ca_location == config.state_dir / "tls" / "ca.pem"
    assert admin.ca_location.is_file()
    assert stat.S_IMODE((config.state_dir / "access" / "admin.properties").stat().st_mode) == 0o600
    kafka.prepare()
    assert kafka.admin_settings() == admin
