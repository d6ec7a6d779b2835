"""``svdhub demo``: bring the stack up and show each real service working.

Until the connectors, enforcer, ledger and views exist, the demo proves the
foundation: a real produce/consume round trip through Kafka, a real OPA
decision from the ``policies/`` bundle, and a real SQL round trip through
SQLAlchemy on PostgreSQL and SQLite. It prints what it did at each step.
"""

from __future__ import annotations

import time
import uuid

import typer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from sqlalchemy import create_engine, text

from hub.policy import PolicyClient
from hub.stack import Stack, StackConfig, StackError
from wire import topics


def demo() -> None:
    """Start the local stack and run a real round trip through Kafka, OPA and SQL."""
    try:
        config = StackConfig.load()
        stack = Stack(config, say=lambda msg: typer.echo(msg, err=True))
        typer.echo("1. local stack")
        for outcome in stack.up():
            typer.echo(f"   {outcome.name:<9} {outcome.action}")
    except StackError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    env = stack.env()

    typer.echo(f"2. Kafka at {env['KAFKA_BOOTSTRAP_SERVERS']}")
    typer.echo("   " + kafka_roundtrip(env["KAFKA_BOOTSTRAP_SERVERS"]))

    typer.echo(f"3. OPA at {env['OPA_URL']}")
    with PolicyClient(env["OPA_URL"]) as policy:
        allowed = policy.evaluate("svd.health", "allow", {"probe": "svdhub"})
        denied = policy.evaluate("svd.health", "allow", {"probe": "stranger"})
    typer.echo(f"   data.svd.health.allow: probe=svdhub -> {allowed}, probe=stranger -> {denied}")

    typer.echo("4. SQL through SQLAlchemy")
    sqlite_file = config.state_dir / "demo.sqlite"
    for label, url in (("PostgreSQL", env["DATABASE_URL"]), ("SQLite", f"sqlite:///{sqlite_file}")):
        typer.echo(f"   {label}: {sql_roundtrip(url)}")

    typer.echo("\nThe stack stays up; `make down` (or `svdhub stack down`) stops it.")


def kafka_roundtrip(bootstrap: str) -> str:
    """Produce one message with acks=all and read it back; describe what happened."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="svdhub-demo")
    try:
        admin.create_topics(
            [NewTopic(topics.DEMO_ROUNDTRIP, num_partitions=1, replication_factor=1)]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    key = uuid.uuid4().hex.encode()
    started = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        sent = producer.send(topics.DEMO_ROUNDTRIP, key=key, value=b"hello from svdhub").get(30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=30_000
    )
    try:
        partition = TopicPartition(topics.DEMO_ROUNDTRIP, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        for message in consumer:
            if message.key == key:
                elapsed = (time.perf_counter() - started) * 1000
                return (
                    f"produced to {sent.topic}[{sent.partition}]@{sent.offset} and read it "
                    f"back ({message.value.decode()!r}) in {elapsed:.0f} ms"
                )
    finally:
        consumer.close()
    raise StackError("kafka", "the message produced was not read back within 30 s")


def sql_roundtrip(url: str) -> str:
    """Create a scratch table, write a row, read it back, drop the table."""
    table = f"demo_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)"))
            conn.execute(text(f"INSERT INTO {table} VALUES (1, 'round trip')"))  # noqa: S608 - our own name
            note = conn.execute(text(f"SELECT note FROM {table} WHERE id = 1")).scalar_one()  # noqa: S608
            conn.execute(text(f"DROP TABLE {table}"))
            dialect = engine.dialect.name
            server = engine.dialect.server_version_info
    finally:
        engine.dispose()
    version = ".".join(str(part) for part in server or ())
    return f"{dialect} {version}: wrote and read back {note!r}"
