"""Each real service of the stack does real work."""

from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Engine, text

from hub.policy import PolicyClient


def test_kafka_produce_consume_round_trip(
    new_topic: Callable[..., str],
    kafka_producer: Callable[..., KafkaProducer],
    kafka_consumer: Callable[..., KafkaConsumer],
) -> None:
    topic = new_topic(partitions=3)
    producer = kafka_producer()
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(20)}
    for key, value in sent.items():
        producer.send(topic, key=key, value=value)
    producer.flush(30)

    received = {}
    for message in kafka_consumer(topic):
        received[message.key] = message.value
        if len(received) == len(sent):
            break
    assert received == sent


def test_opa_decides_with_the_projects_policy(opa_url: str) -> None:
    with PolicyClient(opa_url) as policy:
        assert policy.evaluate("svd.health", "allow", {"probe": "svdhub"}) is True
        assert policy.evaluate("svd.health", "allow", {"probe": "stranger"}) is False
        assert policy.evaluate("svd.health", "bundle", {}) == "svdhub"


def test_sqlalchemy_round_trip(sql_engine: Engine) -> None:
    with sql_engine.begin() as conn:
        conn.execute(text("CREATE TABLE shares (decision_id TEXT PRIMARY KEY, recipient TEXT)"))
        conn.execute(
            text("INSERT INTO shares VALUES (:d, :r)"),
            [{"d": "d-1", "r": "vrp"}, {"d": "d-2", "r": "csp-birmingham"}],
        )
    with sql_engine.connect() as conn:
        rows = conn.execute(text("SELECT decision_id, recipient FROM shares ORDER BY 1")).all()
    assert [tuple(row) for row in rows] == [("d-1", "vrp"), ("d-2", "csp-birmingham")]
