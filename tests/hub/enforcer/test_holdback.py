"""The enforcer under an agreement's min_k (hub.enforcer.holdback), one message at
a time, with decisions made here as OPA makes them for wmp-csps (so no
services): what is held back, released (at which level) and withheld, and
how each is audited; a record processed again; a restart; a new policy."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from hub.bundle import normalise_action
from hub.enforcer.anonymise import Anonymiser, RecipientKeys
from hub.enforcer.core import Checked, Enforcer, Incoming, Outgoing
from hub.enforcer.decisions import Decision
from hub.enforcer.holdback import MESSAGES, TERMS_CHANGED, held_id
from hub.enforcer.kanonymity import RETRACTED, Changelog, KAnonymity
from hub.risk.classes import K_ANONYMITY, K_ANONYMITY_HELD, Stream, holdings, measure
from hub.share_schemas import load, share_schemas
from tests.fixtures.records import HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.hub.enforcer.test_core import NAMES, published, read, split
from wire.audit import AuditRecord, Reason, decision_id
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.signing import Verifier

LOOKUP = GeographyLookup.synthetic_sample()
BIRMINGHAM = "E08000025"
#: Tuesday 6 October 2026, 09:10 BST.
MONDAY = datetime(2026, 10, 5, 8, 10, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)


def agreement(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(
        (helpers.POLICIES / "agreements" / f"{name}.yaml").read_text(encoding="utf-8")
    )
    return document


WMP_CSPS = agreement("wmp-csps")
FIELDS = {field: normalise_action(action) for field, action in WMP_CSPS["fields"].items()}
FIELDS = {field: action for field, action in FIELDS.items() if action["action"] != "drop"}


def decision(revision: str = "sha256:one", **changes: Any) -> Decision:
    made = Decision(
        allow=True,
        reasons=(),
        agreement_id="wmp-csps",
        recipient="csp-birmingham",
        lawful_basis=WMP_CSPS["lawful_basis"],
        purpose=WMP_CSPS["purpose"],
        revision=revision,
        fields=FIELDS,
        min_k=WMP_CSPS["min_k"],
    )
    return replace(made, **changes)


@pytest.fixture
def keys(tmp_path: Path) -> helpers.Keys:
    return helpers.Keys(tmp_path)


class Hub:
    """An enforcer with k-anonymity, its changelog in the test's folder."""

    def __init__(self, keys: helpers.Keys, decisions: tuple[Decision, ...] | None = None) -> None:
        self.keys = keys
        self.decisions = decisions or (decision(),)
        self.enforcer = self.make()

    def make(self) -> Enforcer:
        reader = EventReader(helpers.CODEC, Verifier(self.keys.registry()))
        anonymiser = Anonymiser(LOOKUP, RecipientKeys(self.keys.home / "keys" / "recipients"))
        enforcer = Enforcer(
            reader,
            anonymiser,
            NAMES,
            clock=lambda: datetime(2026, 11, 28, tzinfo=UTC),
            signer=HUB_SIGNER,
            linkage=self.keys.linkage(),
            kanonymity=KAnonymity(Changelog(self.keys.home / "k.jsonl")),
        )
        enforcer.decide = lambda _: self.decisions
        return enforcer

    def restart(self) -> None:
        assert self.enforcer.holdback is not None
        changelog = self.enforcer.holdback.state.changelog
        assert changelog is not None
        changelog.close()
        self.enforcer = self.make()

    def send(self, incoming: Incoming) -> list[Outgoing]:
        checked = self.enforcer.check(incoming)
        assert isinstance(checked, Checked), checked
        return self.enforcer.route(checked, self.decisions)

    def incident(
        self, n: int, when: datetime, lsoa: str = "E01900001", **more: Any
    ) -> list[Outgoing]:
        geo = {"lsoa21cd": lsoa, "msoa21cd": None, "lad_cd": BIRMINGHAM, "ward_cd": None}
        record = helpers.incident("wmp", n, geo=geo, when=when, **more)
        return self.send(published(self.keys, "Incident", record))


def audits(out: list[Outgoing]) -> list[AuditRecord]:
    return split(out)[1]


def the_id(n: int) -> str:
    return decision_id(
        helpers.the_event_id("wmp", f"wmp-incident-{n}"), "csp-birmingham", "wmp-csps"
    )


def schema_validator() -> Draft202012Validator:
    agreements, parties = load(helpers.POLICIES)
    schema = share_schemas(agreements, parties, recipients=("csp-birmingham",))
    return Draft202012Validator(schema[("csp-birmingham", "INCIDENT")])


def test_a_class_is_held_back_until_it_has_min_k_then_shared_together(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    for n in range(1, 5):
        (held,) = audits(hub.incident(n, MONDAY))
        assert held.decision == "deny"
        assert held.decision_id == held_id(the_id(n))
        assert held.reasons == (Reason(K_ANONYMITY_HELD, MESSAGES[K_ANONYMITY_HELD]),)
    out = hub.incident(5, MONDAY)
    shares, records, _ = split(out)
    assert sorted(r.decision_id for r in records) == sorted(the_id(n) for n in range(1, 6))
    assert {r.decision for r in records} == {"allow"}
    validator = schema_validator()
    for message in shares:
        share = read(message)
        assert share.fields["geo"]["lsoa21cd"] == "E01900001"  # level 0: as agreed
        assert share.fields["assault_datetime"] == "2026-10-05T08:00:00Z"
        assert not list(validator.iter_errors(json.loads(message.value)))
    # A sixth of the same class goes out at once.
    assert [r.decision for r in audits(hub.incident(6, MONDAY))] == ["allow"]
    assert hub.enforcer.tally.shares["csp-birmingham"] == 6


def test_records_that_need_it_are_generalised_once_their_finer_classes_close(
    keys: helpers.Keys,
) -> None:
    hub = Hub(keys)
    # Five incidents one Monday morning in five areas of Birmingham, at five hours:
    # no class of an hour and an LSOA ever reaches five.
    lsoas = LOOKUP.lsoas(BIRMINGHAM)[:5]
    for n, lsoa in enumerate(lsoas, 1):
        assert audits(hub.incident(n, MONDAY + timedelta(hours=n / 2), lsoa))[0].reasons[
            0
        ].code == (K_ANONYMITY_HELD)
    # Late on Tuesday (Monday's day has closed, with the 6-hour grace): they go out
    # together at the first level where they make five.
    out = hub.incident(9, TUESDAY + timedelta(hours=12), lsoas[0])
    shares = [read(m) for m in split(out)[0]]
    assert len(shares) == 5
    # Five LSOAs of one MSOA, five hours of one morning: neither the part of the
    # day nor the day reaches five in an LSOA; the day in the MSOA does.
    assert {LOOKUP.area(lsoa).msoa21cd for lsoa in lsoas} == {"E02900001"}
    for share in shares:
        assert share.fields["geo"] == {
            "lad_cd": BIRMINGHAM,
            "lsoa21cd": None,
            "msoa21cd": "E02900001",
            "region_cd": "E12000005",
        }
        assert share.fields["assault_datetime"] == "2026-10-04T23:00:00Z"  # Monday, BST
    validator = schema_validator()
    for message in split(out)[0]:
        assert not list(validator.iter_errors(json.loads(message.value)))
    held = holdings(shares)
    risk = measure(Stream("csp-birmingham", "wmp-csps", "Incident"), held[next(iter(held))], 28, 5)
    assert risk.smallest_k is not None and risk.smallest_k >= 5


def test_a_record_that_cannot_reach_min_k_is_withheld_and_audited(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    hub.incident(1, MONDAY, location_type="SCHOOL")
    # Nine days on, even its week has closed (and the grace): it is withheld.
    out = hub.incident(2, MONDAY + timedelta(days=9))
    withheld = [r for r in audits(out) if r.decision_id == the_id(1)]
    assert [(r.decision, r.reasons) for r in withheld] == [
        ("deny", (Reason(K_ANONYMITY, MESSAGES[K_ANONYMITY]),))
    ]
    assert withheld[0].recipient == "csp-birmingham" and withheld[0].agreement_id == "wmp-csps"
    assert not [s for s in split(out)[0] if read(s).event_id]  # nothing shared


def test_a_record_processed_again_gets_the_same_messages(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    messages = []
    for n in range(1, 6):
        geo = {"lsoa21cd": "E01900001", "msoa21cd": None, "lad_cd": BIRMINGHAM, "ward_cd": None}
        record = helpers.incident("wmp", n, geo=geo, when=MONDAY)
        messages.append(published(keys, "Incident", record))
    outs = [hub.send(m) for m in messages]
    again = hub.send(messages[-1])  # the one that released all five
    assert sorted(m.value for m in split(again)[0]) == sorted(m.value for m in split(outs[-1])[0])
    # The first was held back, then released: processed again, it is shared as it was.
    first = hub.send(messages[0])
    assert [r.decision_id for r in audits(first)] == [the_id(1)]
    assert split(first)[0][0].value in {m.value for m in split(outs[-1])[0]}
    # ... and after a restart, from the changelog.
    hub.restart()
    assert sorted(m.value for m in split(hub.send(messages[-1]))[0]) == sorted(
        m.value for m in split(outs[-1])[0]
    )


def test_held_records_survive_a_restart(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    for n in range(1, 5):
        hub.incident(n, MONDAY)
    hub.restart()
    out = hub.incident(5, MONDAY)
    shared = Counter(r.decision for r in audits(out))
    assert shared == Counter({"allow": 5})
    # The index knows who received them, so a retraction reaches the recipient.
    event = helpers.the_event_id("wmp", "wmp-incident-1")
    entry = hub.enforcer.index.get(event)
    assert entry is not None and "csp-birmingham" in entry.recipients()


def test_a_held_record_retracted_before_release_is_denied(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    hub.incident(1, MONDAY)
    event = helpers.the_event_id("wmp", "wmp-incident-1")
    retraction = published(keys, "Retraction", helpers.retraction("wmp", event))
    out = hub.send(retraction)
    found = {r.decision_id: r for r in audits(out)}
    assert found[the_id(1)].reasons == (Reason(RETRACTED, MESSAGES[RETRACTED]),)


def test_a_new_policy_decides_held_records_again(keys: helpers.Keys) -> None:
    hub = Hub(keys)
    hub.incident(1, MONDAY)
    hub.incident(2, MONDAY)
    # The agreement now drops the location type: the held records' terms changed.
    fields = {k: v for k, v in FIELDS.items() if k != "location_type"}
    hub.decisions = (decision("sha256:two", fields=fields),)
    out = hub.incident(3, MONDAY)
    denied = {
        r.decision_id: r.reasons for r in audits(out) if r.decision_id in (the_id(1), the_id(2))
    }
    assert denied == {
        the_id(1): (Reason(K_ANONYMITY, TERMS_CHANGED),),
        the_id(2): (Reason(K_ANONYMITY, TERMS_CHANGED),),
    }
    # A policy that denies the pair denies the held records with its own reasons.
    hub.incident(4, MONDAY)
    refusal = Reason("past_review_date", "agreement wmp-csps passed its review date")
    hub.decisions = (decision("sha256:three", allow=False, reasons=(refusal,), fields={}),)
    out = hub.incident(5, MONDAY)
    assert {r.decision_id: r.reasons for r in audits(out)}[the_id(4)] == (refusal,)
