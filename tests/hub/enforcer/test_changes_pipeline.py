"""Changes bound to their origin, and a wrong policy, on the real secured Kafka and
OPA with the enforcer as a process.

* Another authority's retraction is quarantined; the publisher's own reaches
  exactly the recipients that received the event, as the ids they know; a
  retraction read before its event waits for it.
* A policy bundle that lets OPA release a partnership-wide pseudonym to a
  CSP is refused by the enforcer's own check (``policy_violation``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hub.bundle import build
from hub.enforcer.policy import PolicyClient, PolicyUnavailable
from tests.fixtures.kafka import read_all
from tests.fixtures.services import PrivateOpa
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, pair_id, payload
from wire.audit import AuditRecord
from wire.kafka_client import ClientSettings
from wire.quarantine import QuarantineEntry

pytestmark = pytest.mark.slow


def where(record: AuditRecord) -> tuple[str, int, int]:
    return (record.source_topic, record.source_partition, record.source_offset)


def test_only_the_publisher_retracts_and_only_recipients_hear_of_it(pipeline: Pipeline) -> None:
    kept, withdrawn = helpers.incident("wmp", 1), helpers.incident("wmp", 2)
    target = str(withdrawn["envelope"]["event_id"])
    # The retraction is on the broker before its event: it must wait for it.
    early = pipeline.publish("Retraction", [helpers.retraction("wmp", target)])
    events = pipeline.publish("Incident", [kept, withdrawn])
    foreign = pipeline.publish(
        "Retraction", [helpers.retraction("uhb-ed", str(kept["envelope"]["event_id"]))]
    )
    # Which raw topic the enforcer reads first is not fixed, so a retraction may
    # or may not wait (and be audited as waiting); every other decision is certain.
    expected = {
        the_id
        for the_id, out in pipeline.expected(early + events + foreign).items()
        if "awaiting_event" not in {r.code for r in AuditRecord.from_bytes(out.value).reasons}
    }
    pipeline.start_enforcer()
    helpers.wait_until(
        lambda: expected <= {pair_id(r) for r in pipeline.audit()}, 120, "every decision"
    )
    audit = pipeline.audit()

    # uhb-ed's retraction of wmp's incident: quarantined, with the reason.
    # (It may first have waited for the incident, if its topic was read first.)
    place = (foreign[0].topic, foreign[0].partition, foreign[0].offset)
    refused = [r for r in audit if where(r) == place and r.reasons[0].code != "awaiting_event"]
    assert [(r.decision, r.reasons[0].code) for r in refused] == [("quarantine", "foreign_change")]
    entries = [
        QuarantineEntry.from_bytes(m.value)
        for m in read_all(pipeline.admin, [pipeline.names.quarantine])
    ]
    assert [e.code for e in entries] == ["foreign_change"]

    # wmp's own: to each recipient of the incident, naming it as that recipient knows it.
    shares = [payload(m) for m in pipeline.shares()]
    incidents = {(s.recipient, s.event_id) for s in shares if s.record_type == "Incident"}
    received = {recipient for recipient, _ in incidents}
    retractions = [s for s in shares if s.record_type == "Retraction"]
    assert retractions, "the publisher's retraction reached no one"
    assert {s.recipient for s in retractions} <= received
    for share in retractions:
        assert (share.recipient, share.fields["retracted_event_id"]) in incidents
    allowed_retraction = {
        r.recipient for r in audit if r.record_type == "Retraction" and r.decision == "allow"
    }
    assert allowed_retraction == {s.recipient for s in retractions}
    not_received = {
        r.recipient
        for r in audit
        if r.record_type == "Retraction" and r.reasons and r.reasons[0].code == "not_received"
    }
    assert not_received and not not_received & received


def test_a_policy_that_releases_a_pseudonym_unscoped_is_refused_by_the_enforcer(
    kafka_admin: ClientSettings, private_opa: PrivateOpa, tmp_path: Path
) -> None:
    """A hand-edited bundle whose Rego lacks the pseudonym rule and whose CSP
    agreement keeps the partnership-wide subject pseudonym: OPA allows it, the
    enforcer quarantines the event as policy_violation, and nothing is shared."""
    wrong = tmp_path / "wrong"
    build(helpers.POLICIES, wrong)
    rego = wrong / "svd" / "share" / "share.rego"
    text = rego.read_text(encoding="utf-8")
    rule = '[field] == "pseudonym"\n\tnot _is_drop(action)\n\tnot _rekeyed(action)'
    assert rule in text
    rego.write_text(text.replace(rule, '[field] == "no such class"'), encoding="utf-8")
    data = json.loads((wrong / "data.json").read_text(encoding="utf-8"))
    data["svd"]["agreements"]["wmp-csps"]["fields"]["subject_pseudo_id"] = {"action": "keep"}
    data["svd"]["meta"]["revision"] = "wrong-1"
    (wrong / "data.json").write_text(json.dumps(data), encoding="utf-8")
    manifest = json.loads((wrong / ".manifest").read_text(encoding="utf-8"))
    (wrong / ".manifest").write_text(
        json.dumps({**manifest, "revision": "wrong-1"}), encoding="utf-8"
    )
    for stale in private_opa.bundle.iterdir():
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    shutil.copytree(wrong, private_opa.bundle, dirs_exist_ok=True)

    with PolicyClient(private_opa.url, private_opa.token) as client:

        def serving_the_wrong_bundle() -> bool:
            # While the files are swapped, OPA may load a bundle without them.
            try:
                revision = client.evaluate("svd.meta", "revision", {})
            except PolicyUnavailable:
                return False
            return bool(revision == "wrong-1")

        helpers.wait_until(serving_the_wrong_bundle, 60, "OPA to serve the wrong bundle")

    pipeline = Pipeline(kafka_admin, private_opa.url, private_opa.token, tmp_path / "home")
    try:
        sent = pipeline.publish("Incident", [helpers.incident("wmp", 1)])
        pipeline.start_enforcer()
        try:  # an enforcer starting on a busy machine may take a while
            helpers.wait_until(lambda: len(pipeline.audit()) >= 1, 180, "the event to be audited")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{pipeline.logs()}") from None
        audit = pipeline.audit()
        assert [(r.decision, r.reasons[0].code) for r in audit] == [
            ("quarantine", "policy_violation")
        ]
        assert "subject_pseudo_id" in audit[0].reasons[0].message
        assert where(audit[0]) == (sent[0].topic, sent[0].partition, sent[0].offset)
        assert pipeline.shares() == []
    finally:
        pipeline.stop()
