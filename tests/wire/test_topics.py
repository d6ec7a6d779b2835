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
