"""Poison on the running hub, small: every shape, a few of each, to every kind of topic.
``make soak`` runs the same with 1,000 messages per topic.

The offline tests check the generator itself: every shape it makes for a topic
is refused by that topic's consumer, in-process, with no services."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from hub.audit.ledger import Ledger
from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Checked, Enforcer, Incoming
from hub.sink import Message
from hub.views.builder import ViewBuilder
from tests.fixtures import poison
from tests.fixtures.records import HUB_KEYS, HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.soak.poison import COMPONENTS, poison_run, targets
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.kafka_client import ClientSettings
from wire.signing import Verifier, generate_signer
from wire.topics import TopicNames

PER_TOPIC = 120
NAMES = TopicNames("t")


def as_consumed(topic: str, offset: int, made: poison.Poison, kind: poison.Kind) -> Message:
    """A poison message as a sink consumes it, with the headers it was written with."""
    headers = tuple(poison.headers_for(made, kind, HUB_SIGNER))
    return Message(topic, 0, offset, 0, made.value, headers)


@pytest.mark.slow
def test_no_malformed_message_stops_a_component_and_each_is_rejected_once(
    kafka_admin: ClientSettings, opa_url: str, opa_token: str, database_url: str, tmp_path: Path
) -> None:
    report = poison_run(
        tmp_path,
        admin=kafka_admin,
        opa_url=opa_url,
        opa_token=opa_token,
        database_url=database_url,
        per_topic=PER_TOPIC,
        valid=10,
        timeout=100,
        say=lambda _: None,
    )
    summary = "\n".join(report.lines())
    assert not report.problems, summary
    for kind in ("shared", "audit", "raw"):
        assert sum(report.sent[kind].values()) == PER_TOPIC, summary
        assert set(report.sent[kind]) == set(poison.shapes_for(kind)), summary
    assert {name: sum(codes.values()) for name, codes in report.rejected.items()} == {
        "ledger": PER_TOPIC,
        "views": PER_TOPIC,
        "enforcer": PER_TOPIC,
    }, summary
    assert set(report.running) == set(COMPONENTS), summary


def test_every_topic_gets_at_least_twenty_shapes() -> None:
    for kind in ("shared", "audit", "raw"):
        assert len(poison.shapes_for(kind)) >= 20, kind


def test_the_same_seed_makes_the_same_messages(tmp_path: Path) -> None:
    made = targets(helpers.Keys(tmp_path), HUB_SIGNER)
    for kind in ("shared", "audit", "raw"):
        first = list(poison.generate(made[kind], 45, seed=3))
        assert first == list(poison.generate(made[kind], 45, seed=3)), kind


@pytest.fixture(scope="module")
def made(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[helpers.Keys, dict[str, list[poison.Poison]]]:
    keys = helpers.Keys(tmp_path_factory.mktemp("keys"))
    found = targets(keys, HUB_SIGNER)
    twice = {kind: 2 * len(poison.shapes_for(kind)) for kind in found}
    return keys, {kind: list(poison.generate(t, twice[kind])) for kind, t in found.items()}


def test_every_shared_shape_is_refused_by_the_views(
    made: tuple[helpers.Keys, dict[str, list[poison.Poison]]],
) -> None:
    topic = NAMES.shared("vrp", "incident")
    messages = [as_consumed(topic, i, p, "shared") for i, p in enumerate(made[1]["shared"])]
    done = ViewBuilder(create_engine("sqlite://"), NAMES, keys=HUB_KEYS).apply(messages)
    assert (done.shares, done.rejected) == (0, len(messages))
    assert done.forged == 2 * len(poison.SIGNATURE_SHAPES)


def test_every_audit_shape_is_refused_by_the_ledger(
    made: tuple[helpers.Keys, dict[str, list[poison.Poison]]],
) -> None:
    topic = NAMES.audit_decisions
    messages = [as_consumed(topic, i, p, "audit") for i, p in enumerate(made[1]["audit"])]
    ledger = Ledger(
        create_engine("sqlite://"), generate_signer("hub-1", "hub"), names=NAMES, keys=HUB_KEYS
    )
    done = ledger.apply(messages)
    assert (done.added, done.rejected) == (0, len(messages))
    assert done.forged == 2 * len(poison.SIGNATURE_SHAPES)


def test_every_raw_shape_is_quarantined_by_the_enforcer(
    made: tuple[helpers.Keys, dict[str, list[poison.Poison]]],
) -> None:
    keys, poisons = made
    enforcer = Enforcer(
        EventReader(helpers.CODEC, Verifier(keys.registry())),
        Anonymiser(GeographyLookup.synthetic_sample(), RecipientKeys(keys.home / "recipients")),
        NAMES,
        signer=HUB_SIGNER,
    )
    topic = NAMES.raw("wmp", "incident")
    for i, p in enumerate(poisons["raw"]):
        checked = enforcer.check(Incoming(topic, 0, i, p.key, p.value))
        assert not isinstance(checked, Checked), p.shape
        assert [m.topic for m in checked] == [NAMES.quarantine, NAMES.audit_decisions], p.shape
