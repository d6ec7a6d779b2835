"""The enforcer's work on one message, against the real OPA serving policies/.

No Kafka here: :meth:`Enforcer.process` is called directly, so each property
(what is shared, to whom, with which fields; what is quarantined; what is
audited) is checked on exact outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Checked, Enforcer, Incoming, Outgoing
from hub.enforcer.decisions import Decider, Decision
from hub.enforcer.linkage import (
    FOREIGN_LINKAGE_KEY,
    MISSING_LINKAGE_FINGERPRINT,
    UNREGISTERED_LINKAGE_KEY,
)
from hub.enforcer.policy import PolicyClient
from tests.fixtures.records import HUB_KEYS, HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.wire import samples
from wire import schemas
from wire.audit import AuditRecord, Reason, decision_id, quarantine_id, read_audit_message
from wire.codec import AvroCodec
from wire.envelope import MAX_EVENT_BYTES, EventReader, EventWriter
from wire.geography import GeographyLookup
from wire.hub_signing import HubSignatureError
from wire.linkage import fingerprint
from wire.private_files import write_private
from wire.quarantine import QuarantineEntry
from wire.shares import Share
from wire.signing import KeyRegistry, Verifier, generate_signer
from wire.topics import TopicNames

NAMES = TopicNames("t")
TODAY = datetime(2026, 11, 28, 12, tzinfo=UTC)
CSPS = (
    "csp-birmingham",
    "csp-coventry",
    "csp-dudley",
    "csp-sandwell",
    "csp-solihull",
    "csp-walsall",
    "csp-wolverhampton",
)


@pytest.fixture
def keys(tmp_path: Path) -> helpers.Keys:
    return helpers.Keys(tmp_path)


@pytest.fixture
def decider(opa_url: str, opa_token: str) -> Iterator[Decider]:
    with PolicyClient(opa_url, opa_token) as client:
        yield Decider(client)


def make_enforcer(keys: helpers.Keys, clock: datetime = TODAY) -> Enforcer:
    reader = EventReader(helpers.CODEC, Verifier(keys.registry()))
    anonymiser = Anonymiser(
        GeographyLookup.synthetic_sample(), RecipientKeys(keys.home / "keys" / "recipients")
    )
    return Enforcer(
        reader, anonymiser, NAMES, clock=lambda: clock, signer=HUB_SIGNER, linkage=keys.linkage()
    )


def message(topic: str, value: bytes | None, offset: int = 0, key: bytes = b"k") -> Incoming:
    return Incoming(topic, 0, offset, key, value)


def published(keys: helpers.Keys, record_type: str, record: dict[str, Any]) -> Incoming:
    authority = record["envelope"]["source_authority"]
    kind = record["envelope"]["event_type"]
    value = keys.writer(authority).write(record_type, record)
    return message(NAMES.raw(authority, kind), value)


def split(
    out: list[Outgoing],
) -> tuple[list[Outgoing], list[AuditRecord], list[QuarantineEntry]]:
    """The share messages, and the audit records and quarantine entries, each read
    through its contract's parser."""
    shares = [m for m in out if ".svd.shared." in m.topic]
    audits = [AuditRecord.from_bytes(m.value) for m in out if m.topic == NAMES.audit_decisions]
    quarantined = [QuarantineEntry.from_bytes(m.value) for m in out if m.topic == NAMES.quarantine]
    assert len(shares) + len(audits) + len(quarantined) == len(out)
    return shares, audits, quarantined


def read(message: Outgoing) -> Share:
    return Share.from_bytes(message.value)


def test_police_incident_goes_where_the_agreements_say(
    keys: helpers.Keys, decider: Decider
) -> None:
    out = make_enforcer(keys).process(published(keys, "Incident", helpers.incident()), decider)
    shares, audits, _ = split(out)
    allowed = {(a.agreement_id, a.recipient) for a in audits if a.decision == "allow"}
    assert allowed == {
        ("wmp-vrp", "vrp"),
        ("wmp-csps", "csp-birmingham"),
        ("vrp-public", "public"),
    }
    denied = {a.recipient: a.reasons for a in audits if a.decision == "deny"}
    assert set(denied) == set(CSPS) - {"csp-birmingham"}
    assert denied["csp-coventry"] == (
        Reason("outside_recipient_area", "event is outside csp-coventry's area"),
    )
    assert {s.topic for s in shares} == {
        "t.svd.shared.vrp.incident",
        "t.svd.shared.csp-birmingham.incident",
        "t.svd.shared.public.incident",
    }
    # every decision audited once, with the revision and a deterministic id
    assert len(audits) == len({a.decision_id for a in audits}) == 3 + 6
    event = helpers.the_event_id("wmp", "wmp-incident-1")
    for audit in audits:
        assert audit.recipient is not None and audit.agreement_id is not None
        assert audit.decision_id == decision_id(event, audit.recipient, audit.agreement_id)
        assert audit.policy_revision == decider.revision
        assert audit.lawful_basis and audit.purpose


def test_a_share_carries_its_decision_and_only_named_fields(
    keys: helpers.Keys, decider: Decider
) -> None:
    named = helpers.agreement_fields()
    out = make_enforcer(keys).process(published(keys, "Incident", helpers.incident()), decider)
    shares, audits, _ = split(out)
    by_id = {a.decision_id: a for a in audits}
    for share in shares:
        head = dict(share.headers)
        payload = read(share)
        audit = next(
            a for a in audits if a.shared_ids and a.shared_ids.share_id == payload.share_id
        )
        assert audit.decision_id in by_id
        assert head["share_id"].decode() == payload.share_id
        assert audit.shared_ids is not None and audit.shared_ids.event_id == payload.event_id
        assert share.key.decode() == audit.shared_ids.message_key
        assert head["agreement_id"].decode() == audit.agreement_id == payload.agreement_id
        assert head["policy_revision"].decode() == decider.revision == payload.policy_revision
        assert set(payload.fields) <= named[payload.agreement_id]
        assert tuple(sorted(payload.fields)) == audit.fields_released
        assert audit.payload_sha256 == hashlib.sha256(share.value).hexdigest()
        assert audit.shared_topic == share.topic
        if payload.recipient == "public":
            assert not any(name.endswith("_pseudo_id") for name in payload.fields)
        assert b"occurred_at" not in share.value and b"recorded_at" not in share.value


def test_obligations_are_applied_per_recipient(keys: helpers.Keys, decider: Decider) -> None:
    out = make_enforcer(keys).process(published(keys, "Incident", helpers.incident()), decider)
    shares, _, _ = split(out)
    fields = {read(s).recipient: read(s).fields for s in shares}
    vrp, public = fields["vrp"], fields["public"]
    assert public["geo"] == {
        "lsoa21cd": None,
        "msoa21cd": None,
        "lad_cd": "E08000025",
        "region_cd": "E12000005",
    }
    assert public["assault_datetime"].endswith("-01T00:00:00Z")  # truncated to the month
    assert vrp["geo"]["lsoa21cd"] == "E01900001"
    assert vrp["geo"]["msoa21cd"]  # filled in from the lookup
    pseudonyms = {r: f.get("incident_pseudo_id") for r, f in fields.items()}
    assert pseudonyms["vrp"] != pseudonyms["csp-birmingham"]
    assert "p-wmp-1" not in json.dumps(fields)  # the source pseudonym is never passed on
    keys_by_recipient = {read(s).recipient: s.key for s in shares}
    assert len(set(keys_by_recipient.values())) == 3  # message keys are re-keyed too


def test_domestic_abuse_reaches_a_local_recipient_at_msoa(
    keys: helpers.Keys, decider: Decider
) -> None:
    record = helpers.incident(domestic_abuse_flag=True)
    shares, _, _ = split(make_enforcer(keys).process(published(keys, "Incident", record), decider))
    geo = {read(s).recipient: read(s).fields["geo"] for s in shares}
    assert geo["csp-birmingham"]["lsoa21cd"] is None
    assert geo["csp-birmingham"]["msoa21cd"]
    assert geo["vrp"]["lsoa21cd"] == "E01900001"  # the regional recipient is not local


def test_same_event_gives_same_shares(keys: helpers.Keys, decider: Decider) -> None:
    incoming = published(keys, "Incident", helpers.incident())
    first = make_enforcer(keys).process(incoming, decider)
    again = make_enforcer(keys).process(incoming, decider)
    assert [s for s in first if "shared" in s.topic] == [s for s in again if "shared" in s.topic]
    ids = [dict(m.headers)["decision_id"] for m in first if m.topic == NAMES.audit_decisions]
    assert ids == [
        dict(m.headers)["decision_id"] for m in again if m.topic == NAMES.audit_decisions
    ]


def test_sealed_audit_records_are_one_signed_batch_of_the_same_records(
    keys: helpers.Keys, decider: Decider
) -> None:
    """The app writes an event's decisions as one batch, signed once; it holds
    exactly the records written one per message, in the same order."""
    incoming = published(keys, "Incident", helpers.incident())
    single = make_enforcer(keys).process(incoming, decider)
    batching = make_enforcer(keys)
    batching.batch_audit = True
    sealed = batching.seal(batching.process(incoming, decider))
    audits = [m for m in sealed if m.topic == NAMES.audit_decisions]
    assert len(audits) == 1 and sealed[-1] is audits[0]
    HUB_KEYS.verify(audits[0].value, audits[0].headers)
    records = read_audit_message(audits[0].value)
    assert list(records) == split(single)[1]
    assert len(records) >= 3
    assert dict(audits[0].headers)["records"] == str(len(records)).encode()
    assert audits[0].key == records[0].decision_id.encode()
    assert [m for m in sealed if m.topic != NAMES.audit_decisions] == [
        m for m in single if m.topic != NAMES.audit_decisions
    ]
    # A forged batch (the records edited after signing) is refused by the signature.
    forged = audits[0].value.replace(b'"allow"', b'"deny"', 1)
    with pytest.raises(HubSignatureError):
        HUB_KEYS.verify(forged, audits[0].headers)
    # Without batching, seal() changes nothing.
    assert make_enforcer(keys).seal(single) == single


def test_an_expired_agreement_denies_with_its_reason(keys: helpers.Keys, decider: Decider) -> None:
    """wmp-vrp and vrp-public pass review_by in 2027; the enforcer's date decides."""
    later = datetime(2027, 7, 1, 12, tzinfo=UTC)
    out = make_enforcer(keys, clock=later).process(
        published(keys, "Incident", helpers.incident()), decider
    )
    shares, audits, _ = split(out)
    reasons = {a.agreement_id: a.reasons for a in audits if a.recipient in {"vrp", "public"}}
    assert reasons["wmp-vrp"] == (
        Reason("past_review_date", "agreement wmp-vrp passed its review date 2027-03-31"),
    )
    assert reasons["vrp-public"] == (
        Reason("past_review_date", "agreement vrp-public passed its review date 2027-03-31"),
    )
    assert shares == []  # wmp-csps passed its review date too


def test_an_event_no_agreement_covers_is_audited_as_denied(
    keys: helpers.Keys, decider: Decider
) -> None:
    record = helpers.referral(authority="wmp")  # police share incidents only
    out = make_enforcer(keys).process(published(keys, "Referral", record), decider)
    shares, audits, _ = split(out)
    assert shares == []
    assert [a.reasons for a in audits] == [
        (Reason("no_agreement", "no agreement shares REFERRAL events from wmp"),)
    ]
    assert audits[0].recipient == audits[0].agreement_id == "-"


def test_youth_referral_and_retraction(keys: helpers.Keys, decider: Decider) -> None:
    enforcer = make_enforcer(keys)
    shares, _, _ = split(enforcer.process(published(keys, "Referral", helpers.referral()), decider))
    assert [read(s).recipient for s in shares] == ["vrp"]
    fields = read(shares[0]).fields
    assert fields["home_geo"]["lsoa21cd"] is None  # generalised to MSOA
    assert fields["referral_datetime"] == "2026-11-02T00:00:00Z"  # truncated to the week

    withdrawn = helpers.the_event_id("uhb-ed", "uhb-ed-incident-1")
    retraction = helpers.retraction("uhb-ed", withdrawn)
    shares, audits, _ = split(enforcer.process(published(keys, "Retraction", retraction), decider))
    # uhb-ed-incident-1 never reached the enforcer: the retraction waits for it
    assert shares == []
    assert [r.code for a in audits for r in a.reasons] == ["awaiting_event"]

    out = enforcer.process(published(keys, "Incident", helpers.incident("uhb-ed")), decider)
    shares, _, _ = split(out)
    received = {read(s).recipient: read(s) for s in shares if read(s).record_type == "Incident"}
    retractions = [read(s) for s in shares if read(s).record_type == "Retraction"]
    # the retraction reaches exactly the recipients of the incident (not every CSP),
    # naming the incident as each of them knows it
    assert {r.recipient for r in retractions} == set(received) - {"public"}
    for share in retractions:
        assert share.fields["retracted_event_id"] == received[share.recipient].event_id
        assert share.fields["retracted_event_id"] != withdrawn


def test_bad_messages_are_quarantined_and_audited(keys: helpers.Keys, decider: Decider) -> None:
    enforcer = make_enforcer(keys)
    good = keys.writer("wmp").write("Incident", helpers.incident())
    forger = generate_signer("wmp-test-1", "wmp")  # same key id, another private key
    forged = EventWriter(helpers.CODEC, forger).write("Incident", helpers.incident())
    corrupted = bytearray(good)
    corrupted[len(corrupted) // 2] ^= 0xFF
    rogue = generate_signer("rogue-1", "rogue")
    huge = os.urandom(1024 * 1024)  # 1 MB of garbage: more than the producer would take back
    cases = {
        "forged": (NAMES.raw("wmp", "incident"), forged, "bad_signature"),
        "corrupted": (NAMES.raw("wmp", "incident"), bytes(corrupted), "bad_signature"),
        "garbage": (NAMES.raw("wmp", "incident"), b"\x00not avro", "not_single_object"),
        "empty": (NAMES.raw("wmp", "incident"), None, "empty"),
        "unknown authority": (
            NAMES.raw("rogue", "incident"),
            EventWriter(helpers.CODEC, rogue).write("Incident", helpers.incident("wmp")),
            "unknown_key",
        ),
        "wrong topic": (NAMES.raw("uhb-ed", "incident"), good, "wrong_authority"),
        "too large": (NAMES.raw("wmp", "incident"), huge, "too_large"),
    }
    for offset, (name, (topic, value, code)) in enumerate(cases.items()):
        out = enforcer.process(message(topic, value, offset=offset), decider)
        shares, audits, quarantined = split(out)
        assert shares == [], name
        assert len(quarantined) == 1 and len(audits) == 1, name
        entry, audit = quarantined[0], audits[0]
        assert entry.value_excerpt() == (None if value is None else value[:MAX_EVENT_BYTES]), name
        assert entry.raw_size == len(value or b"")
        assert entry.raw_sha256 == audit.raw_sha256 == hashlib.sha256(value or b"").hexdigest()
        assert all(len(m.value) < 200_000 for m in out), name  # bounded, whatever came in
        assert audit.decision == "quarantine", name
        assert [r.code for r in audit.reasons] == [entry.code] == [code], (name, audit.reasons)
        assert audit.decision_id == entry.quarantine_id == quarantine_id(topic, 0, offset)
        assert (entry.source_topic, entry.source_offset) == (topic, offset)
    assert sum(enforcer.tally.quarantined.values()) == len(cases)


@pytest.mark.parametrize("pseudonym", ["has a space", "x" * 129, "", "a\x00b", "é"])
def test_a_signed_event_whose_pseudonym_the_audit_cannot_hold_is_quarantined(
    keys: helpers.Keys, decider: Decider, pseudonym: str
) -> None:
    """The Avro schema lets a connector sign any string as the subject pseudonym;
    the audit record that every decision carries does not."""
    record = {**helpers.incident(), "subject_pseudo_id": pseudonym}
    shares, audits, quarantined = split(
        make_enforcer(keys).process(published(keys, "Incident", record), decider)
    )
    assert (shares, [a.decision for a in audits]) == ([], ["quarantine"])
    assert [a.reasons[0].code for a in audits] == [quarantined[0].code] == ["bad_pseudonym"]


def test_a_key_added_to_the_registry_is_picked_up(keys: helpers.Keys, decider: Decider) -> None:
    enforcer = make_enforcer(keys)
    enforcer.registry_path = keys.home / "keys" / "registry.yaml"
    newcomer = generate_signer("wmp-test-2", "wmp")
    value = EventWriter(helpers.CODEC, newcomer).write("Incident", helpers.incident())
    _, audits, _ = split(enforcer.process(message(NAMES.raw("wmp", "incident"), value), decider))
    assert audits[0].decision == "quarantine"
    registry = keys.registry()
    everyone = [registry.get(k) for k in registry.key_ids()] + [newcomer.public_key()]
    path = keys.home / "keys" / "registry.yaml"
    path.write_text(KeyRegistry(everyone).to_yaml(), encoding="utf-8")
    os.utime(path, (1, 1))  # a changed mtime, whatever the clock's resolution
    shares, _, _ = split(
        enforcer.process(message(NAMES.raw("wmp", "incident"), value, offset=1), decider)
    )
    assert len(shares) == 3


def test_a_signed_event_whose_values_break_the_contracts_is_quarantined_or_denied(
    keys: helpers.Keys, decider: Decider
) -> None:
    """A genuine authority can still send hostile values: a subject pseudonym no audit
    record can hold quarantines the event; a released value longer than a share
    allows denies that pair. Neither stops the enforcer, and the next event goes on."""
    enforcer = make_enforcer(keys)
    long_subject = {**helpers.incident(n=7), "subject_pseudo_id": "s" * 300}
    out = enforcer.process(published(keys, "Incident", long_subject), decider)
    shares, audits, quarantined = split(out)
    assert shares == [] and len(quarantined) == 1
    assert audits[0].decision == "quarantine"
    assert audits[0].reasons[0].code == "bad_pseudonym"
    assert "subject_pseudo_id" in audits[0].reasons[0].message

    referral = {**helpers.referral(), "programme_code": "P" * 300}  # youth-vrp keeps it
    shares, audits, _ = split(enforcer.process(published(keys, "Referral", referral), decider))
    assert shares == []
    assert [r.code for a in audits for r in a.reasons] == ["obligation_failed"]
    assert "programme_code" in audits[0].reasons[0].message

    shares, _, _ = split(enforcer.process(published(keys, "Incident", helpers.incident()), decider))
    assert len(shares) == 3


@pytest.mark.parametrize(
    ("field", "action"),
    [
        ("subject_pseudo_id", {"action": "keep"}),
        ("incident_pseudo_id", {"action": "truncate", "unit": "hour"}),
        ("subject_pseudo_id", {"action": "pseudonymise", "scope": "partnership"}),
    ],
)
def test_a_wrong_policy_answer_is_refused_by_the_enforcers_own_check(
    keys: helpers.Keys, field: str, action: dict[str, str]
) -> None:
    """Whatever OPA says: a decision that would release a pseudonym other than
    re-keyed for the recipient shares nothing; the event is quarantined and
    audited as a policy violation. (The wire schemas carry no direct
    identifier or free text, so the unit tests of the check cover those.)"""
    enforcer = make_enforcer(keys)
    checked = enforcer.check(published(keys, "Incident", helpers.incident()))
    assert not isinstance(checked, list)
    wrong = Decision(
        allow=True,
        reasons=(),
        agreement_id="wmp-csps",
        recipient="csp-birmingham",
        lawful_basis="DPA_PART3",
        purpose="a policy with a bug",
        revision="sha256:wrong",
        fields={"offence_group": {"action": "keep"}, field: action},
    )
    shares, audits, quarantined = split(enforcer.route(checked, (wrong,)))
    assert shares == []
    assert [a.decision for a in audits] == ["quarantine"]
    assert [a.reasons[0].code for a in audits] == [quarantined[0].code] == ["policy_violation"]
    assert f"Incident.{field} to csp-birmingham" in audits[0].reasons[0].message


# ------------------------------------------------------------------ key revocation

REVOKED_AT = TODAY  # 2026-11-28T12:00:00Z


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watching(keys: helpers.Keys, ticks: Ticks) -> Enforcer:
    """An enforcer that watches its registry file, on the test's monotonic clock."""
    reader = EventReader(helpers.CODEC, Verifier(keys.registry()))
    anonymiser = Anonymiser(
        GeographyLookup.synthetic_sample(), RecipientKeys(keys.home / "keys" / "recipients")
    )
    return Enforcer(
        reader,
        anonymiser,
        NAMES,
        clock=lambda: TODAY,
        registry_path=keys.home / "keys" / "registry.yaml",
        signer=HUB_SIGNER,
        monotonic=ticks,
    )


def received(incoming: Incoming, moment: datetime | None, offset: int) -> Incoming:
    """``incoming`` as the broker stamped it at ``moment`` (None: not stamped)."""
    return replace(incoming, offset=offset, timestamp=moment.timestamp() if moment else None)


def revoke_in_file(keys: helpers.Keys, key_id: str, at: datetime) -> None:
    registry = keys.registry()
    revoked = [
        registry.get(k).revoke(at, "leaked") if k == key_id else registry.get(k)
        for k in registry.key_ids()
    ]
    write_private(keys.home / "keys" / "registry.yaml", KeyRegistry(revoked).to_yaml())


def outcome(result: Checked | list[Outgoing]) -> str:
    """``checked``, or the quarantine reason's code."""
    if isinstance(result, Checked):
        return "checked"
    _, audits, _ = split(result)
    return audits[0].reasons[0].code


def test_a_revocation_applies_within_a_second_without_a_restart(keys: helpers.Keys) -> None:
    ticks = Ticks()
    enforcer = watching(keys, ticks)
    event = published(keys, "Incident", helpers.incident())
    before, after = REVOKED_AT - timedelta(seconds=1), REVOKED_AT + timedelta(seconds=1)
    assert outcome(enforcer.check(received(event, after, 0))) == "checked"

    revoke_in_file(keys, "wmp-test-1", REVOKED_AT)
    ticks.now = 0.9  # the file is looked at no more than once a second
    assert outcome(enforcer.check(received(event, after, 1))) == "checked"
    ticks.now = 1.0
    assert outcome(enforcer.check(received(event, after, 2))) == "revoked_key"
    # Judged by when the broker received each message, not when it is checked:
    assert outcome(enforcer.check(received(event, before, 3))) == "checked"
    assert outcome(enforcer.check(received(event, REVOKED_AT, 4))) == "revoked_key"
    # Not stamped by the broker: the enforcer's clock (here REVOKED_AT) stands in.
    assert outcome(enforcer.check(received(event, None, 5))) == "revoked_key"
    # Another authority's key is untouched.
    other = published(keys, "Incident", helpers.incident("wmas"))
    assert outcome(enforcer.check(received(other, after, 6))) == "checked"


def test_the_envelope_times_do_not_count(keys: helpers.Keys) -> None:
    """A thief with the key can backdate every time in the event: only the
    broker's time decides."""
    ticks = Ticks()
    enforcer = watching(keys, ticks)
    revoke_in_file(keys, "wmp-test-1", REVOKED_AT)
    ticks.now = 1.0
    backdated = helpers.incident(when=REVOKED_AT - timedelta(days=300))
    event = published(keys, "Incident", backdated)
    after = REVOKED_AT + timedelta(seconds=1)
    assert outcome(enforcer.check(received(event, after, 0))) == "revoked_key"


def test_a_registry_that_cannot_be_read_leaves_the_last_good_one_in_use(
    keys: helpers.Keys, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    enforcer = watching(keys, ticks)
    event = published(keys, "Incident", helpers.incident())
    after = REVOKED_AT + timedelta(seconds=1)
    path = keys.home / "keys" / "registry.yaml"
    good = path.read_text(encoding="utf-8")

    write_private(path, good.replace("public_key:", "publik_key:", 1))
    with caplog.at_level(logging.ERROR, logger="hub.enforcer.core"):
        for offset in range(5):
            ticks.now += 1.5
            assert outcome(enforcer.check(received(event, after, offset))) == "checked"
    problems = [r for r in caplog.records if "cannot be used" in r.getMessage()]
    assert len(problems) == 1, "logged once per change, not once per look"
    assert "publik_key" in problems[0].getMessage()

    path.unlink()  # gone: still the last good registry, and said once more
    with caplog.at_level(logging.ERROR, logger="hub.enforcer.core"):
        for offset in range(5, 8):
            ticks.now += 1.5
            assert outcome(enforcer.check(received(event, after, offset))) == "checked"
    assert len([r for r in caplog.records if "cannot be used" in r.getMessage()]) == 2

    write_private(path, good)
    revoke_in_file(keys, "wmp-test-1", REVOKED_AT)  # a good file again: used at once
    ticks.now += 1.5
    assert outcome(enforcer.check(received(event, after, 9))) == "revoked_key"


# ------------------------------------------------------------------ linkage key


def with_linkage(version: str | None, fingerprint: str | None, n: int = 1) -> dict[str, Any]:
    """A police incident whose envelope names this linkage key version and fingerprint."""
    record = helpers.incident("wmp", n)
    record["envelope"] = {
        **record["envelope"],
        "pseudonym_key_version": version,
        "linkage_key_fingerprint": fingerprint,
    }
    return record


def quarantine_code(out: Checked | list[Outgoing]) -> str:
    assert not isinstance(out, Checked), "accepted"
    shares, audits, quarantined = split(out)
    assert shares == [] and [a.decision for a in audits] == ["quarantine"]
    assert audits[0].reasons[0].code == quarantined[0].code
    return quarantined[0].code


def test_an_event_made_with_the_partnerships_linkage_key_is_accepted(keys: helpers.Keys) -> None:
    record = with_linkage(samples.LINKAGE_KEY_VERSION, samples.LINKAGE_FINGERPRINT)
    checked = make_enforcer(keys).check(published(keys, "Incident", record))
    assert isinstance(checked, Checked)
    assert checked.event.envelope["linkage_key_fingerprint"] == samples.LINKAGE_FINGERPRINT


def test_an_event_without_pseudonyms_needs_no_fingerprint(keys: helpers.Keys) -> None:
    checked = make_enforcer(keys).check(published(keys, "Incident", with_linkage(None, None)))
    assert isinstance(checked, Checked)


def test_an_event_made_with_another_linkage_key_is_quarantined(keys: helpers.Keys) -> None:
    foreign = fingerprint(bytes.fromhex("a5" * 32))
    enforcer = make_enforcer(keys)
    out = enforcer.check(
        published(keys, "Incident", with_linkage(samples.LINKAGE_KEY_VERSION, foreign))
    )
    assert quarantine_code(out) == FOREIGN_LINKAGE_KEY
    assert enforcer.tally.quarantined[FOREIGN_LINKAGE_KEY] == 1


def test_an_event_whose_key_version_is_not_registered_is_quarantined(
    keys: helpers.Keys,
) -> None:
    record = with_linkage("2099-1", samples.LINKAGE_FINGERPRINT)
    out = make_enforcer(keys).check(published(keys, "Incident", record))
    assert quarantine_code(out) == UNREGISTERED_LINKAGE_KEY


def test_an_event_with_pseudonyms_and_no_fingerprint_is_quarantined(keys: helpers.Keys) -> None:
    record = with_linkage(samples.LINKAGE_KEY_VERSION, None)
    out = make_enforcer(keys).check(published(keys, "Incident", record))
    assert quarantine_code(out) == MISSING_LINKAGE_FINGERPRINT


def test_an_event_written_before_the_fingerprint_existed_is_read_then_quarantined(
    keys: helpers.Keys,
) -> None:
    """A connector still on the released v1 schemas sends pseudonyms without a
    fingerprint: the hub reads the event (v1 resolves into the current schema)
    and quarantines it, since nobody can tell which key made its pseudonyms."""
    v1 = schemas.released()["v1"]
    old_codec = AvroCodec(v1)
    record = helpers.incident("wmp", 7)
    del record["envelope"]["linkage_key_fingerprint"]
    value = EventWriter(old_codec, keys.signers["wmp"]).write("Incident", record)
    out = make_enforcer(keys).check(message(NAMES.raw("wmp", "incident"), value))
    assert quarantine_code(out) == MISSING_LINKAGE_FINGERPRINT
