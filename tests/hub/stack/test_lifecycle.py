"""`svdhub stack up|status|down` as a user runs them, on a stack of its own.

This starts a second, private stack (its own state folder and free ports),
so it does not disturb the session's services or a developer's stack. The
stack's Kafka is secured: `stack up` applies the access plan of the default
namespace and writes every principal's credentials to ``<state>/access``.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kafka import KafkaAdminClient, KafkaConsumer

from hub.access.broker import apply
from hub.access.plan import AccessPlan, plan_from_policies
from hub.access.store import ADMIN, CredentialStore
from hub.settings import policies_dir
from hub.stack import StackConfig
from hub.stack.process import cmdline, port_open
from tests.fixtures.services import stack_for_a_command, unavailable
from wire.kafka_client import ClientSettings
from wire.topics import EVENT_TYPES, TopicNames

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


def svdhub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[tuple[StackConfig, dict[str, str]]]:
    with stack_for_a_command("lifecycle", tmp_path) as stack:
        yield stack


def stack_processes(state: Path) -> list[str]:
    """Command lines of live processes that refer to this stack's state folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and str(state) in (line := cmdline(int(entry.name))):
            found.append(f"{entry.name}: {line}")
    return found


def test_up_is_idempotent_and_down_leaves_nothing_behind(
    private_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    config, env = private_stack
    first = svdhub("stack", "up", env=env)
    if first.returncode != 0:
        unavailable("local stack", first.stderr[-2000:])
    assert first.stdout.count("started") == 3, first.stdout
    env_file = config.state_dir / "stack.env"
    written = env_file.read_text(encoding="utf-8")
    for variable in ("KAFKA_BOOTSTRAP_SERVERS", "OPA_URL", "DATABASE_URL"):
        assert f"{variable}=" in written
    pids_before = sorted(stack_processes(config.state_dir))
    assert pids_before, "no process refers to the stack's state folder"
    access_is_applied(config, env)

    second = svdhub("stack", "up", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already up") == 3, second.stdout
    assert "(0 created, 0 deleted)" in second.stderr  # the access plan, applied again
    assert sorted(stack_processes(config.state_dir)) == pids_before  # nothing restarted

    status = svdhub("stack", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line.split() for line in status.stdout.splitlines()}
    assert lines["kafka"][1:3] == ["up", config.kafka.version]
    assert lines["opa"][1:3] == ["up", config.opa.version]
    assert lines["postgres"][1] == "up"

    down = svdhub("stack", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert stack_processes(config.state_dir) == []
    for port in (
        config.kafka.port,
        config.kafka.controller_port,
        config.opa.port,
        config.postgres.port,
    ):
        assert not port_open(port), f"port {port} still open after stack down"
    assert not env_file.exists()

    after = svdhub("stack", "status", env=env)
    assert after.returncode == 3
    assert after.stdout.count(" down ") == 3, after.stdout

    cluster = Path((config.state_dir / "postgres" / "data-location").read_text().strip())
    purged = svdhub("stack", "down", "--purge", env=env)
    assert purged.returncode == 0, purged.stderr
    assert not config.state_dir.exists()
    assert not cluster.exists()  # also when PostgreSQL's data lived under /var/tmp


def access_is_applied(config: StackConfig, env: dict[str, str]) -> None:
    """Every principal of the default namespace has its credentials file, the
    broker matches the plan, and each authority's raw topics exist (a
    connector may only write them), as the enforcer sees them."""
    parties = yaml.safe_load((config.policies_dir / "parties.yaml").read_text(encoding="utf-8"))
    access = config.state_dir / "access"
    principals = ["admin", "enforcer", "ledger", "views", "recipient-vrp"]
    principals += [f"connector-{authority}" for authority in parties["authorities"]]
    for principal in principals:
        assert (access / f"{principal}.properties").is_file(), principal
    check = svdhub("access", "check", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("ok: ")

    enforcer = ClientSettings.load(access / "enforcer.properties")
    assert enforcer.username == "enforcer"
    consumer = KafkaConsumer(**enforcer.kafka_python(), client_id="svdhub-tests")
    try:
        topics = consumer.topics()
    finally:
        consumer.close()
    names = TopicNames()
    raw = {
        names.raw(authority, kind) for authority in parties["authorities"] for kind in EVENT_TYPES
    }
    assert raw <= topics


def test_two_fresh_starts_in_a_row_on_the_same_ports(
    private_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    """Start, stop and purge twice: each start formats new storage (a new Kafka
    cluster id, a new PostgreSQL cluster) and finds its ports free again."""
    config, env = private_stack
    for attempt in (1, 2):
        up = svdhub("stack", "up", env=env)
        if attempt == 1 and up.returncode != 0:
            unavailable("local stack", up.stderr[-2000:])
        assert up.returncode == 0, f"start {attempt}: {up.stderr[-2000:]}"
        assert up.stdout.count("started") == 3, up.stdout
        down = svdhub("stack", "down", "--purge", env=env)
        assert down.returncode == 0, down.stderr
        assert stack_processes(config.state_dir) == []
        assert not config.state_dir.exists()


def test_a_restart_after_principals_are_revoked_keeps_every_credential(
    private_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    """Kafka drops every SCRAM credential, the admin's too, when a broker with no
    metadata snapshot restarts over credential deletions. Revoke three
    namespaces' principals with `access apply`, restart the broker before any
    snapshot, and everyone the plans still name logs in as before."""
    config, env = private_stack
    up = svdhub("stack", "up", "--only", "kafka", env=env)
    if up.returncode != 0:
        unavailable("local stack", up.stderr[-2000:])
    admin = CredentialStore(config.state_dir).load(ADMIN)
    store = CredentialStore(config.state_dir)
    for n in range(3):
        names = TopicNames(f"gone-{n}")
        plan = plan_from_policies(policies_dir(), names)
        apply(plan, admin, store, admin.ca_location)
        done = apply(AccessPlan(names, (), ()), admin, store, admin.ca_location)
        assert sorted(done.revoked_users) == sorted(plan.principal_names())
    down = svdhub("stack", "down", env=env)
    assert down.returncode == 0, down.stderr
    again = svdhub("stack", "up", "--only", "kafka", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    for name in (ADMIN, "enforcer", "connector-wmp"):
        client = KafkaAdminClient(**store.load(name).kafka_python(), bootstrap_timeout_ms=20000)
        try:
            assert client.list_topics()
        finally:
            client.close()
