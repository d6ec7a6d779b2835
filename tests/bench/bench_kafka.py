"""The broker's ceiling on this machine: Kafka's own ProducerPerformance and
ConsumerPerformance (from the kafka-tools jar), beside kafka-python producing
and consuming the same number of records of the same size in the same run.

All of them connect as the stack's admin over SASL_SSL with SCRAM-SHA-512, as
every client of the hub does (the broker has no other listener), so these are
the ceiling with TLS; the report sets them beside the figures recorded before
Kafka was secured."""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from hub.enforcer.topic_admin import TopicAdmin
from hub.stack import StackConfig
from hub.stack.kafka import Kafka
from tests.bench.harness import Result
from wire.kafka_client import SASL_MECHANISM, SECURITY_PROTOCOL, ClientSettings
from wire.private_files import write_private

RECORD_BYTES = 600  # about one signed police incident


def java_client_config(admin: ClientSettings, path: Path) -> Path:
    """The Java client's properties for ``admin`` (SCRAM's JAAS line, the CA as
    a PEM trust store), written 0600: it holds the password."""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{admin.username}" password="{admin.password}";'
    )
    write_private(
        path,
        f"bootstrap.servers={admin.bootstrap_servers}\n"
        f"security.protocol={SECURITY_PROTOCOL}\n"
        f"sasl.mechanism={SASL_MECHANISM}\n"
        f"sasl.jaas.config={jaas}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={admin.ca_location}\n",
    )
    return path


def run(admin: ClientSettings, records: int) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        return measure(
            admin, java_client_config(admin, Path(folder) / "client.properties"), records
        )


def measure(admin: ClientSettings, client_config: Path, records: int) -> list[Result]:
    kafka = Kafka(StackConfig.load())
    bootstrap = admin.bootstrap_servers
    tool_topic, client_topic = (f"bench-ceiling-{uuid.uuid4().hex[:8]}-{n}" for n in (1, 2))
    TopicAdmin(admin).ensure([tool_topic, client_topic])
    try:
        produced = (
            subprocess.run(
                kafka.tool(
                    "org.apache.kafka.tools.ProducerPerformance",
                    "--topic",
                    tool_topic,
                    "--num-records",
                    str(records),
                    "--record-size",
                    str(RECORD_BYTES),
                    "--throughput",
                    "-1",
                    "--command-config",
                    str(client_config),
                    "--command-property",
                    "acks=all",
                ),
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        tool_produce = float(produced.split(" records/sec")[0].rsplit(",", 1)[1].strip())

        consumed = (
            subprocess.run(
                kafka.tool(
                    "org.apache.kafka.tools.ConsumerPerformance",
                    "--bootstrap-server",
                    bootstrap,
                    "--command-config",
                    str(client_config),
                    "--topic",
                    tool_topic,
                    "--messages",
                    str(records),
                    "--timeout",
                    "60000",
                ),
                capture_output=True,
                text=True,
                check=True,
                timeout=900,
            )
            .stdout.strip()
            .splitlines()
        )
        header, values = consumed[-2].split(","), consumed[-1].split(",")
        tool_consume = float(values[[h.strip() for h in header].index("nMsg.sec")])

        producer = KafkaProducer(
            **admin.kafka_python(),
            acks="all",
            linger_ms=5,
            batch_size=256 * 1024,
        )
        value = b"x" * RECORD_BYTES
        started = time.perf_counter()
        for _ in range(records):
            producer.send(client_topic, value=value)
        producer.flush()
        client_produce = records / (time.perf_counter() - started)
        producer.close()

        consumer = KafkaConsumer(
            **admin.kafka_python(),
            enable_auto_commit=False,
            max_poll_records=2000,
        )
        parts = [
            TopicPartition(client_topic, p)
            for p in consumer.partitions_for_topic(client_topic) or ()
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        started, seen = time.perf_counter(), 0
        while seen < records:
            seen += sum(len(batch) for batch in consumer.poll(timeout_ms=500).values())
        client_consume = records / (time.perf_counter() - started)
        consumer.close()
        return [
            Result(
                "kafka",
                f"ProducerPerformance, {records:,} x {RECORD_BYTES} B, acks=all",
                tool_produce,
                "kafka-python producer, same records",
                client_produce,
                "records/s",
            ),
            Result(
                "kafka",
                f"ConsumerPerformance, {records:,} records",
                tool_consume,
                "kafka-python consumer, same records",
                client_consume,
                "records/s",
            ),
        ]
    finally:
        # The broker is left as it was found: later stages meet no extra topics.
        cleanup = KafkaAdminClient(**admin.kafka_python(), client_id="svdhub-bench")
        try:
            cleanup.delete_topics([tool_topic, client_topic], timeout_ms=60_000)
        finally:
            cleanup.close()
