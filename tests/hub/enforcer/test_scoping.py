"""Shares that cannot be linked across recipients, and changes only their origin can make.

Against the real OPA serving policies/, without Kafka (:meth:`Enforcer.process`):
every id a share carries is its recipient's own; a correction or retraction
is accepted only from the authority that published the event, reaches only
the recipients that received it, and a correction that moves an event out of
a recipient's area reaches that recipient as a retraction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.enforcer import index as index_module
from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import FOREIGN_CHANGE, OUT_OF_SCOPE, Enforcer, Outgoing
from hub.enforcer.decisions import Decider
from hub.enforcer.index import EventIndex
from hub.enforcer.policy import PolicyClient
from tests.fixtures.records import HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.hub.enforcer.test_core import NAMES, TODAY, message, published, read, split
from tests.wire import samples
from wire.audit import AuditRecord
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.shares import Share
from wire.signing import Verifier


@pytest.fixture
def keys(tmp_path: Path) -> helpers.Keys:
    return helpers.Keys(tmp_path)


@pytest.fixture
def decider(opa_url: str, opa_token: str) -> Iterator[Decider]:
    with PolicyClient(opa_url, opa_token) as client:
        yield Decider(client)


def enforcer(keys: helpers.Keys, index: EventIndex | None = None) -> Enforcer:
    reader = EventReader(helpers.CODEC, Verifier(keys.registry()))
    anonymiser = Anonymiser(
        GeographyLookup.synthetic_sample(), RecipientKeys(keys.home / "keys" / "recipients")
    )
    return Enforcer(reader, anonymiser, NAMES, clock=lambda: TODAY, signer=HUB_SIGNER, index=index)


def correction(record: dict[str, Any], geo: dict[str, Any], version: int = 2) -> dict[str, Any]:
    """``record`` (an Incident) at the next version, moved to ``geo``."""
    authority = record["envelope"]["source_authority"]
    key = f"{authority}-incident-1"
    envelope = samples.envelope(
        authority,
        key,
        version,
        source_authority_type=helpers.AUTHORITIES[authority],
        supersedes=record["envelope"]["event_id"],
    )
    return {**record, "envelope": envelope, "geo": dict(geo)}


def shares_by(out: list[Outgoing], record_type: str) -> dict[str, Share]:
    found = [read(m) for m in out if ".svd.shared." in m.topic]
    return {s.recipient: s for s in found if s.record_type == record_type}


def ids_of(share: Share) -> set[str]:
    """Every identifier a share carries."""
    found = {share.share_id, share.event_id}
    if share.supersedes:
        found.add(share.supersedes)
    retracted = share.fields.get("retracted_event_id")
    if isinstance(retracted, str):
        found.add(retracted)
    return found


def test_no_identifier_of_a_share_appears_in_another_recipients_stream(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    out: list[Outgoing] = []
    for n in range(1, 6):
        record = helpers.incident("wmp", n)
        out += hub.process(published(keys, "Incident", record), decider)
        out += hub.process(published(keys, "Incident", helpers.incident("uhb-ed", n)), decider)
    shares = [m for m in out if ".svd.shared." in m.topic]
    streams: dict[str, set[str]] = {}
    for m in shares:
        share = read(m)
        streams.setdefault(share.recipient, set()).update(ids_of(share) | {m.key.decode()})
    assert len(streams) >= 3
    for recipient, ids in streams.items():
        for other, their in streams.items():
            if other != recipient:
                assert not ids & their, f"{recipient} and {other} share an identifier"
    _, audits, _ = split(out)
    internal = {a.event_id for a in audits} | {a.decision_id for a in audits}
    assert not internal & set().union(*streams.values())


def test_the_kafka_key_is_the_subject_only_where_the_agreement_releases_it(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    # two events about one person
    first = helpers.incident("wmp", 1)
    second = {**helpers.incident("wmp", 2), "subject_pseudo_id": first["subject_pseudo_id"]}
    out = hub.process(published(keys, "Incident", first), decider)
    out += hub.process(published(keys, "Incident", second), decider)
    keys_by: dict[str, list[str]] = {}
    for m in out:
        if ".svd.shared." in m.topic:
            keys_by.setdefault(read(m).recipient, []).append(m.key.decode())
    # the VRP's agreement releases the subject pseudonym: both events share its key
    assert len(set(keys_by["vrp"])) == 1
    vrp_subject = {read(m).fields["subject_pseudo_id"] for m in out if read_recipient(m) == "vrp"}
    assert set(keys_by["vrp"]) == vrp_subject
    # the CSP's and the public stream release none: no key spans two events
    for recipient in ("csp-birmingham", "public"):
        assert len(keys_by[recipient]) == 2 == len(set(keys_by[recipient]))


def read_recipient(m: Outgoing) -> str | None:
    return read(m).recipient if ".svd.shared." in m.topic else None


def test_another_authoritys_retraction_is_quarantined(keys: helpers.Keys, decider: Decider) -> None:
    hub = enforcer(keys)
    record = helpers.incident("wmp", 1)
    hub.process(published(keys, "Incident", record), decider)
    target = str(record["envelope"]["event_id"])
    out = hub.process(published(keys, "Retraction", helpers.retraction("uhb-ed", target)), decider)
    shares, audits, quarantined = split(out)
    assert shares == []
    assert [q.reason.code for q in quarantined] == [FOREIGN_CHANGE]
    assert "only wmp" in quarantined[0].reason.message
    assert [a.decision for a in audits] == ["quarantine"]
    # and the authority's own retraction goes through, to the incident's recipients only
    out = hub.process(published(keys, "Retraction", helpers.retraction("wmp", target)), decider)
    retracted = shares_by(out, "Retraction")
    assert set(retracted) == {"vrp", "csp-birmingham", "public"}
    denied = {a.recipient: a.reasons[0].code for a in split(out)[1] if a.decision == "deny"}
    assert denied["csp-coventry"] == "not_received"


def test_another_authoritys_correction_is_quarantined(keys: helpers.Keys, decider: Decider) -> None:
    hub = enforcer(keys)
    record = helpers.incident("wmp", 1)
    hub.process(published(keys, "Incident", record), decider)
    forged = helpers.incident("wmas", 1)
    forged["envelope"] = {**forged["envelope"], "supersedes": record["envelope"]["event_id"]}
    shares, _, quarantined = split(hub.process(published(keys, "Incident", forged), decider))
    assert shares == []
    assert [q.reason.code for q in quarantined] == [FOREIGN_CHANGE]


def test_an_event_id_another_authority_published_first_is_quarantined(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    record = helpers.incident("wmp", 1)
    hub.process(published(keys, "Incident", record), decider)
    squatter = helpers.incident("wmas", 1)
    squatter["envelope"] = {**squatter["envelope"], "event_id": record["envelope"]["event_id"]}
    shares, _, quarantined = split(hub.process(published(keys, "Incident", squatter), decider))
    assert shares == []
    assert [q.reason.code for q in quarantined] == [FOREIGN_CHANGE]


def test_a_correction_that_moves_an_incident_retracts_it_where_it_left(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    first = helpers.incident("wmp", 1)
    before = shares_by(hub.process(published(keys, "Incident", first), decider), "Incident")
    assert "csp-birmingham" in before and "csp-coventry" not in before
    moved = correction(first, helpers.COVENTRY)
    out = hub.process(published(keys, "Incident", moved), decider)
    after = shares_by(out, "Incident")
    withdrawn = shares_by(out, "Retraction")
    # Birmingham is told its copy is withdrawn, as the id it knows
    assert set(withdrawn) == {"csp-birmingham"}
    notice = withdrawn["csp-birmingham"]
    assert notice.fields == {
        "retracted_event_id": before["csp-birmingham"].event_id,
        "reason": OUT_OF_SCOPE,
    }
    assert notice.agreement_id == before["csp-birmingham"].agreement_id
    # Coventry gets the incident as a first version; the VRP as a correction of its copy
    assert after["csp-coventry"].supersedes is None
    assert after["vrp"].supersedes == before["vrp"].event_id
    assert after["vrp"].event_id != before["vrp"].event_id
    # every share is audited, the withdrawal too, with the ids it carries
    _, audits, _ = split(out)
    allowed = [a for a in audits if a.decision == "allow"]
    assert len(allowed) == len(after) + len(withdrawn)
    withdrawal = next(a for a in allowed if a.record_type == "Retraction")
    assert withdrawal.retracts == str(first["envelope"]["event_id"])
    assert withdrawal.shared_ids is not None
    assert withdrawal.shared_ids.retracted_event_id == before["csp-birmingham"].event_id
    assert withdrawal.lawful_basis == "DPA_PART3"


def test_the_index_rebuilt_from_the_audit_routes_later_changes_the_same(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    first = helpers.incident("wmp", 1)
    out = hub.process(published(keys, "Incident", first), decider)
    rebuilt = EventIndex()
    for m in out:
        if m.topic == NAMES.audit_decisions:
            rebuilt.apply(AuditRecord.from_bytes(m.value))
    target = str(first["envelope"]["event_id"])
    assert rebuilt.get(target) == hub.index.get(target)
    retraction = published(keys, "Retraction", helpers.retraction("wmp", target))
    again = enforcer(keys, rebuilt).process(retraction, decider)
    assert again == hub.process(retraction, decider)


def test_a_waiting_retraction_survives_a_restart(
    keys: helpers.Keys, decider: Decider, tmp_path: Path
) -> None:
    waiting = tmp_path / "enforcer" / "waiting.json"
    first = helpers.incident("wmp", 1)
    target = str(first["envelope"]["event_id"])
    hub = enforcer(keys, EventIndex(waiting))
    out = hub.process(published(keys, "Retraction", helpers.retraction("wmp", target)), decider)
    assert shares_by(out, "Retraction") == {}
    assert oct(waiting.stat().st_mode & 0o777) == oct(0o600)
    assert len(json.loads(waiting.read_text())) == 1

    restarted = enforcer(keys, EventIndex(waiting))  # the audit says nothing of the event yet
    out = restarted.process(published(keys, "Incident", first), decider)
    assert set(shares_by(out, "Retraction")) == set(shares_by(out, "Incident"))
    # Kept in the file until a start finds its outcome in the audit topic: till
    # then, a crash before its shares were delivered cannot lose it.
    assert len(json.loads(waiting.read_text())) == 1
    again = EventIndex(waiting)
    for m in out:
        if m.topic == NAMES.audit_decisions:
            again.apply(AuditRecord.from_bytes(m.value))
    assert again.settle() == 0
    assert json.loads(waiting.read_text()) == []


def test_a_routed_retraction_is_routed_again_after_a_crash_that_lost_its_shares(
    keys: helpers.Keys, decider: Decider, tmp_path: Path
) -> None:
    waiting = tmp_path / "waiting.json"
    first = helpers.incident("wmp", 1)
    target = str(first["envelope"]["event_id"])
    hub = enforcer(keys, EventIndex(waiting))
    hub.process(published(keys, "Retraction", helpers.retraction("wmp", target)), decider)
    incident = hub.process(published(keys, "Incident", first), decider)
    # The crash: only the incident's own messages reached the broker.
    index = EventIndex(waiting)
    for m in incident:
        if (
            m.topic == NAMES.audit_decisions
            and AuditRecord.from_bytes(m.value).record_type == "Incident"
        ):
            index.apply(AuditRecord.from_bytes(m.value))
    assert index.settle() == 1
    out = enforcer(keys, index).process(
        published(keys, "Incident", helpers.incident("wmp", 2)), decider
    )
    assert shares_by(out, "Retraction") == shares_by(incident, "Retraction") != {}


def test_a_retraction_of_an_event_routed_twice_is_not_sent_twice_to_one_pair(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    first = helpers.incident("wmp", 1)
    incoming = published(keys, "Incident", first)
    hub.process(incoming, decider)
    hub.process(incoming, decider)  # a replay after a crash
    target = str(first["envelope"]["event_id"])
    out = hub.process(published(keys, "Retraction", helpers.retraction("wmp", target)), decider)
    retractions = [read(m) for m in out if ".svd.shared." in m.topic]
    assert len(retractions) == len({(s.recipient, s.agreement_id) for s in retractions})


def test_a_message_key_of_a_retraction_is_not_the_events(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    first = helpers.incident("wmp", 1)
    out = hub.process(published(keys, "Incident", first), decider)
    target = str(first["envelope"]["event_id"])
    out2 = hub.process(
        message(
            NAMES.raw("wmp", "retraction"),
            keys.writer("wmp").write("Retraction", helpers.retraction("wmp", target)),
            offset=1,
        ),
        decider,
    )
    event_keys = {m.key for m in out if ".svd.shared." in m.topic}
    retraction_keys = {m.key for m in out2 if ".svd.shared." in m.topic}
    assert retraction_keys and not event_keys & retraction_keys


def test_a_version_that_comes_after_its_correction_is_not_shared(
    keys: helpers.Keys, decider: Decider
) -> None:
    hub = enforcer(keys)
    first = helpers.incident("wmp", 1)
    moved = correction(first, helpers.COVENTRY)
    later = shares_by(hub.process(published(keys, "Incident", moved), decider), "Incident")
    assert "csp-coventry" in later and later["vrp"].supersedes is None
    out = hub.process(published(keys, "Incident", first), decider)
    shares, audits, _ = split(out)
    assert shares == []  # Birmingham never counts an incident that has moved on
    codes = {r.code for a in audits for r in a.reasons}
    assert "superseded" in codes
    rebuilt = EventIndex()
    for m in hub.process(published(keys, "Incident", moved), decider):
        if m.topic == NAMES.audit_decisions:
            rebuilt.apply(AuditRecord.from_bytes(m.value))
    assert rebuilt.superseded[str(first["envelope"]["event_id"])][0] == "wmp"


def test_retractions_of_events_that_never_come_cannot_fill_the_hub(
    keys: helpers.Keys, decider: Decider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "MAX_WAITING", 3)
    hub = enforcer(keys, EventIndex(tmp_path / "waiting.json"))
    codes = []
    for n in range(5):
        never = str(uuid.uuid5(uuid.NAMESPACE_URL, f"never-{n}"))
        raw = keys.writer("wmp").write("Retraction", helpers.retraction("wmp", never, n))
        out = hub.process(message(NAMES.raw("wmp", "retraction"), raw, offset=n), decider)
        codes.append(split(out)[1][0].reasons[0].code)
    assert codes == ["awaiting_event"] * 3 + ["unknown_event"] * 2
    assert len(json.loads((tmp_path / "waiting.json").read_text())) == 3
