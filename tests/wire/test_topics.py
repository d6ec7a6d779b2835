import pytest

from wire import topics


def test_raw_and_shared_topic_names() -> None:
    assert topics.raw_topic("wmp", "INCIDENT") == "svd.raw.wmp.incident"
    assert topics.shared_topic("csp-birmingham", "referral") == "svd.shared.csp-birmingham.referral"
    assert topics.parse_raw_topic("svd.raw.uhb-ed.incident") == ("uhb-ed", "incident")
    assert topics.parse_shared_topic("svd.shared.vrp.outcome") == ("vrp", "outcome")


@pytest.mark.parametrize("bad", ["", "WMP", "wmp.x", "-wmp", "w" * 41, "wmp_ed", "wmp ed"])
def test_bad_party_ids_are_refused(bad: str) -> None:
    with pytest.raises(topics.TopicNameError, match="id"):
        topics.raw_topic(bad, "incident")
    with pytest.raises(topics.TopicNameError):
        topics.shared_topic(bad, "incident")


def test_bad_event_types_are_refused() -> None:
    with pytest.raises(topics.TopicNameError, match="event type 'crime'"):
        topics.raw_topic("wmp", "crime")


@pytest.mark.parametrize(
    "bad", ["svd.raw.wmp", "svd.shared.wmp.incident", "svd.raw.wmp.x.y", "svd.raw.WMP.incident"]
)
def test_parsing_refuses_other_topics(bad: str) -> None:
    with pytest.raises(topics.TopicNameError):
        topics.parse_raw_topic(bad)


def test_internal_topics_are_spelt_once() -> None:
    assert topics.AUDIT_DECISIONS == "svd.audit.decisions"
    assert topics.QUARANTINE == "svd.quarantine"
    assert topics.POLICY_REVISIONS == "svd.policy.revisions"


# ------------------------------------------------------------------ retention

DAY_MS = 86_400_000
FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


@pytest.mark.parametrize(
    "kind",
    [
        topics.TopicKind.RAW,
        topics.TopicKind.AUDIT,
        topics.TopicKind.QUARANTINE,
        topics.TopicKind.POLICY_REVISIONS,
    ],
)
def test_raw_and_internal_topics_keep_data_indefinitely_unless_told(
    kind: topics.TopicKind,
) -> None:
    broker_time = topics.BROKER_TIME if kind is topics.TopicKind.RAW else {}
    assert topics.topic_configs(kind, None) == FOREVER | broker_time
    assert topics.topic_configs(kind, 3650) == {
        "cleanup.policy": "delete",
        "retention.ms": str(3650 * DAY_MS),
        "retention.bytes": "-1",
        "segment.ms": str(7 * DAY_MS),
        **broker_time,
    }


def test_only_raw_topics_take_the_brokers_time() -> None:
    """The time a raw message reached the broker is when the hub received the
    event: what a key's revocation is measured against."""
    assert topics.BROKER_TIME == {"message.timestamp.type": "LogAppendTime"}
    for kind in topics.TopicKind:
        configs = topics.topic_configs(kind, 30)
        wanted = "LogAppendTime" if kind is topics.TopicKind.RAW else None
        assert configs.get("message.timestamp.type") == wanted, kind


def test_a_shared_topic_always_keeps_data_for_a_period() -> None:
    assert topics.topic_configs(topics.TopicKind.SHARED, 730)["retention.ms"] == str(730 * DAY_MS)
    with pytest.raises(topics.TopicConfigError, match="shared topic"):
        topics.topic_configs(topics.TopicKind.SHARED, None)


def test_segments_roll_at_least_once_per_retention_period() -> None:
    configs = topics.topic_configs(topics.TopicKind.SHARED, topics.UNCOVERED_SHARED_DAYS)
    assert configs["retention.ms"] == configs["segment.ms"] == str(DAY_MS)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "30"])
def test_a_retention_must_be_whole_days(bad: object) -> None:
    with pytest.raises(topics.TopicConfigError, match="whole number of days"):
        topics.topic_configs(topics.TopicKind.RAW, bad)  # type: ignore[arg-type]
    with pytest.raises(topics.TopicConfigError):
        topics.TopicPlan(keep_days=bad)  # type: ignore[arg-type]


def agreement(id_: str, recipients: list[str], kinds: list[str], days: int) -> dict[str, object]:
    return {"id": id_, "recipients": recipients, "event_types": kinds, "retention_days": days}


def test_a_shared_topic_keeps_data_for_the_longest_of_its_agreements() -> None:
    longest = topics.shared_retention(
        [
            agreement("a", ["vrp", "csp-birmingham"], ["INCIDENT", "RETRACTION"], 395),
            agreement("b", ["vrp"], ["INCIDENT"], 730),
            agreement("c", ["vrp"], ["referral"], 30),
        ]
    )
    assert longest == {
        ("vrp", "incident"): 730,
        ("vrp", "retraction"): 395,
        ("vrp", "referral"): 30,
        ("csp-birmingham", "incident"): 395,
        ("csp-birmingham", "retraction"): 395,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "x", "recipients": ["vrp"], "event_types": ["INCIDENT"]},
        agreement("x", ["vrp"], ["INCIDENT"], 0),
        agreement("x", ["VRP"], ["INCIDENT"], 30),
        agreement("x", ["vrp"], ["CRIME"], 30),
        {"id": "x", "recipients": "vrp", "event_types": ["INCIDENT"], "retention_days": 30},
        {"id": "x", "recipients": [1], "event_types": ["INCIDENT"], "retention_days": 30},
    ],
)
def test_agreements_of_the_wrong_shape_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(topics.TopicConfigError, match="agreement x"):
        topics.shared_retention([bad])


def test_topic_kinds_are_read_from_names_in_their_namespace() -> None:
    names = topics.TopicNames("staging")
    assert names.kind("staging.svd.raw.wmp.incident") is topics.TopicKind.RAW
    assert names.kind("staging.svd.shared.vrp.outcome") is topics.TopicKind.SHARED
    assert names.kind("staging.svd.audit.decisions") is topics.TopicKind.AUDIT
    assert names.kind("staging.svd.quarantine") is topics.TopicKind.QUARANTINE
    assert names.kind("staging.svd.policy.revisions") is topics.TopicKind.POLICY_REVISIONS
    for other in ["svd.raw.wmp.incident", "staging.svd.raw.wmp", "__consumer_offsets", "x"]:
        assert names.kind(other) is None


def test_a_plan_gives_every_hub_topic_its_configs() -> None:
    names = topics.TopicNames("t")
    plan = topics.TopicPlan.from_agreements(
        names, [agreement("a", ["vrp"], ["INCIDENT"], 395)], keep_days=None
    )
    assert plan.configs(names.raw("wmp", "incident")) == FOREVER | topics.BROKER_TIME
    assert plan.configs(names.audit_decisions) == FOREVER
    assert plan.configs(names.quarantine) == FOREVER
    assert plan.configs(names.policy_revisions) == FOREVER
    assert plan.retention_days(names.shared("vrp", "incident")) == 395
    # No agreement names vrp with referrals, nor csp-dudley at all.
    for uncovered in (names.shared("vrp", "referral"), names.shared("csp-dudley", "incident")):
        assert plan.retention_days(uncovered) == topics.UNCOVERED_SHARED_DAYS
    # Not the hub's topics (another namespace): left alone.
    assert plan.configs("svd.raw.wmp.incident") is None
    with pytest.raises(topics.TopicNameError):
        plan.retention_days("svd.raw.wmp.incident")

    kept = topics.TopicPlan(names, keep_days=90)
    assert kept.retention_days(names.raw("wmp", "incident")) == 90
    assert kept.retention_days(names.policy_revisions) == 90
    assert kept.retention_days(names.shared("vrp", "incident")) == topics.UNCOVERED_SHARED_DAYS
