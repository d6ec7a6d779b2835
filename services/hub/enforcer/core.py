"""The enforcer's work on one raw message, free of any streaming framework.

:meth:`Enforcer.check` verifies and decodes a message and works out the
decision input; a message that fails goes to quarantine, with an audit
record of the reason. :meth:`Enforcer.route` turns the decisions for a valid
event into the messages to produce: one share per allowed (agreement,
recipient) pair, with only the fields the obligations release, and one audit
record per decision, allowed or denied. The faust app (``hub.enforcer.app``)
calls these two around the Decider, and :meth:`Enforcer.process` chains all
three for callers without an event loop (tests, benchmarks).

Every message it makes carries the hub's signature headers
(:class:`wire.hub_signing.HubSigner` over the exact value bytes), so the
ledger, the views and recipients can tell the enforcer's output from a
forgery.

Nothing here raises for bad input: whatever is wrong with a message becomes
a quarantine entry or a denial with a reason, so one bad record never stops
the stream. Only PolicyUnavailable escapes (from the Decider), because then
the caller must stop and retry rather than decide anything.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.bundle import classifications, release_problem
from hub.enforcer.anonymise import AnonymiseError, Anonymiser
from hub.enforcer.decisions import Decider, Decision
from hub.enforcer.linkage import LinkageCheck
from wire.audit import (
    ALLOW,
    DENY,
    NO_AGREEMENT,
    PSEUDONYM,
    QUARANTINE,
    AuditRecord,
    Reason,
    decision_id,
    quarantine_id,
)
from wire.canonical import ContractError, canonical_json, iso, sha256
from wire.codec import CodecError
from wire.envelope import Event, EventReader
from wire.geography import GeographyLookup
from wire.hub_signing import HubSigner
from wire.quarantine import QuarantineEntry
from wire.shares import Share
from wire.signing import KeyRegistry, SignatureError, UnknownKey, Verifier
from wire.topics import TopicNameError, TopicNames

log = logging.getLogger(__name__)

#: The quarantine code of an event whose decisions break the global rules.
POLICY_VIOLATION = "policy_violation"

#: Quarantined messages of one kind logged one by one before only every 1000th is.
QUIET_AFTER = 20

#: Agreements' dates (valid_from, review_by) are dates in England.
LOCAL_TIME = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class Incoming:
    """One message from a raw topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Outgoing:
    """One message to produce (its headers include the hub's signature)."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Checked:
    """A verified, decoded event and the input its decisions depend on."""

    message: Incoming
    event: Event
    input: dict[str, Any]


@dataclass
class Tally:
    """Counts since start, for the log and the demo summary."""

    events: Counter[str] = field(default_factory=Counter)  # per source authority
    shares: Counter[str] = field(default_factory=Counter)  # per recipient
    denials: Counter[str] = field(default_factory=Counter)  # per reason
    quarantined: Counter[str] = field(default_factory=Counter)  # per error kind


class Enforcer:
    """Verify, decide, transform and audit, one raw message at a time."""

    def __init__(
        self,
        reader: EventReader,
        anonymiser: Anonymiser,
        names: TopicNames,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        registry_path: Path | None = None,
        *,
        signer: HubSigner,
        linkage: LinkageCheck | None = None,
    ) -> None:
        self.reader = reader
        # The linkage-key check (hub.enforcer.linkage); None only where no event
        # has pseudonyms worth checking (tools). The service always passes one.
        self.linkage = linkage
        self.signer = signer
        self.classifications = classifications()
        self.anonymiser = anonymiser
        self.lookup: GeographyLookup = anonymiser.lookup
        self.names = names
        self.clock = clock
        self.registry_path = registry_path
        self._registry_mtime = _mtime(registry_path)
        self.tally = Tally()

    # ------------------------------------------------------------------ check

    def check(self, message: Incoming) -> Checked | list[Outgoing]:  # noqa: PLR0911 - a return per reason
        """The checked event, or the quarantine entry and its audit record."""
        try:
            authority, _ = self.names.parse_raw(message.topic)
        except TopicNameError as exc:
            return self._quarantine(message, Reason.bounded("not_a_raw_topic", str(exc)))
        if message.value is None:
            return self._quarantine(message, Reason("empty", "the message has no value"))
        try:
            event = self._read(message.value, authority)
        except (CodecError, SignatureError) as exc:
            return self._quarantine(message, Reason.bounded(_code(exc), str(exc)))
        except Exception as exc:  # one bad record never stops the stream
            log.exception("unexpected error reading %s", _where(message))
            return self._quarantine(
                message, Reason.bounded("unreadable", f"{type(exc).__name__}: {exc}")
            )
        if linkage_problem := self._linkage_problem(event):
            return self._quarantine(message, linkage_problem)
        pseudonym = event.record.get("subject_pseudo_id")
        if pseudonym is not None and not PSEUDONYM.fullmatch(pseudonym):
            # Every decision's audit record carries it: one the audit contract
            # refuses would stop the enforcer on this event, again at every start.
            return self._quarantine(
                message,
                Reason(
                    "bad_pseudonym",
                    f"subject_pseudo_id is not a pseudonym (it must match {PSEUDONYM.pattern})",
                ),
            )
        return Checked(message, event, self.decision_input(event))

    def _read(self, value: bytes, authority: str) -> Event:
        try:
            return self.reader.read(value, authority=authority)
        except UnknownKey:
            if not self._reload_registry():
                raise
            return self.reader.read(value, authority=authority)

    def _reload_registry(self) -> bool:
        """Reload the key registry if its file changed (a key was added); say whether."""
        mtime = _mtime(self.registry_path)
        if self.registry_path is None or mtime is None or mtime == self._registry_mtime:
            return False
        self._registry_mtime = mtime
        self.reader = EventReader(self.reader.codec, Verifier(KeyRegistry.load(self.registry_path)))
        log.info("reloaded the key registry %s", self.registry_path)
        return True

    def decision_input(self, event: Event) -> dict[str, Any]:
        """Only what a decision depends on (see docs/policy.md), so answers cache well."""
        record = event.record
        geo = record.get("geo") or record.get("home_geo") or {}
        lad = geo.get("lad_cd")
        lsoa = geo.get("lsoa21cd")
        if lad is None and lsoa is not None and lsoa in self.lookup:
            lad = self.lookup.area(lsoa).lad_cd
        return {
            "event": {
                "authority": event.envelope["source_authority"],
                "event_type": event.envelope["event_type"],
                "record_type": event.record_type,
                "lad_cd": lad,
                "domestic_abuse": record.get("domestic_abuse_flag"),
                "sexual_offence": record.get("sexual_offence_flag"),
                "location_type": record.get("location_type"),
            },
            "today": self.clock().astimezone(LOCAL_TIME).date().isoformat(),
        }

    # ------------------------------------------------------------------ route

    def route(self, checked: Checked, decisions: tuple[Decision, ...]) -> list[Outgoing]:
        """The shares and audit records for one event's decisions; or, for a verified
        event whose values cannot make a valid audit record (say a subject
        pseudonym of 300 characters), its quarantine entry instead.

        Whatever OPA answers, an allowed decision that would release a field
        classified ``direct_identifier`` or ``free_text``, or a ``pseudonym``
        not re-keyed for the recipient, shares nothing: the event is
        quarantined with the code ``policy_violation`` (audited), because the
        policy in force is wrong."""
        if problem := self._policy_violation(checked.event.record_type, decisions):
            return self._quarantine(checked.message, Reason.bounded(POLICY_VIOLATION, problem))
        try:
            return self._route(checked, decisions)
        except ContractError as exc:
            return self._quarantine(checked.message, Reason.bounded(exc.code, str(exc)))

    def _policy_violation(self, record_type: str, decisions: tuple[Decision, ...]) -> str | None:
        """Why one of ``decisions`` may not be carried out, or None."""
        classified = self.classifications.get(record_type, {})
        for decision in decisions:
            if not decision.allow:
                continue
            for name, action in sorted(decision.fields.items()):
                if problem := release_problem(classified.get(name, ""), action):
                    return (
                        f"OPA allowed {decision.agreement_id} to release {record_type}.{name} "
                        f"to {decision.recipient}, but it is {problem}"
                    )
        return None

    def _route(self, checked: Checked, decisions: tuple[Decision, ...]) -> list[Outgoing]:
        event = checked.event
        event_id = event.event_id
        self.tally.events[event.envelope["source_authority"]] += 1
        base = self._audit_base(checked)
        if not decisions:
            reason = Reason(
                "no_agreement",
                f"no agreement shares {event.envelope['event_type']} events "
                f"from {event.envelope['source_authority']}",
            )
            self.tally.denials[str(reason)] += 1
            the_id = decision_id(event_id, NO_AGREEMENT, NO_AGREEMENT)
            return [self._audit(base, the_id, DENY, (reason,), decision=None)]
        out: list[Outgoing] = []
        for decision in decisions:
            the_id = decision_id(event_id, decision.recipient, decision.agreement_id)
            reasons = decision.reasons
            share: Outgoing | None = None
            released: tuple[str, ...] = ()
            if decision.allow:
                try:
                    share, released = self._share(checked, decision, the_id)
                except (AnonymiseError, TypeError, ValueError) as exc:
                    reasons = (
                        Reason.bounded(
                            "obligation_failed", f"obligations could not be applied: {exc}"
                        ),
                    )
            if share is None:
                for reason in reasons:
                    self.tally.denials[str(reason)] += 1
                out.append(self._audit(base, the_id, DENY, reasons, decision=decision))
                continue
            self.tally.shares[decision.recipient] += 1
            out.append(share)
            out.append(
                self._audit(
                    base, the_id, ALLOW, (), decision=decision, share=share, released=released
                )
            )
        return out

    def _share(
        self, checked: Checked, decision: Decision, the_id: str
    ) -> tuple[Outgoing, tuple[str, ...]]:
        """The share for an allowed decision, and the names of the fields it releases.

        Raises ValueError (a ShareError) when the anonymised fields break the
        share contract (say, a value longer than it allows): then nothing is shared."""
        event = checked.event
        envelope = event.envelope
        fields = self.anonymiser.apply(event.record, decision.fields, decision.recipient)
        share = Share(
            share_id=the_id,
            event_id=event.event_id,
            event_type=envelope["event_type"],
            record_type=event.record_type,
            source_authority=envelope["source_authority"],
            source_authority_type=envelope["source_authority_type"],
            supersedes=None if envelope["supersedes"] is None else str(envelope["supersedes"]),
            recipient=decision.recipient,
            agreement_id=decision.agreement_id,
            policy_revision=decision.revision,
            fields=json.loads(canonical_json(fields)),
        )
        source_key = checked.message.key.decode("utf-8", "replace") if checked.message.key else ""
        key = self.anonymiser.pseudonym(source_key or event.event_id, decision.recipient)
        message = self.signed(
            self.names.shared(decision.recipient, envelope["event_type"]),
            key.encode(),
            share.to_bytes(),
            (
                ("decision_id", the_id.encode()),
                ("agreement_id", decision.agreement_id.encode()),
                ("policy_revision", decision.revision.encode()),
            ),
        )
        return message, tuple(sorted(fields))

    def _audit_base(self, checked: Checked) -> dict[str, Any]:
        """The parts of an audit record that every decision on one event shares."""
        event, message = checked.event, checked.message
        return {
            "decided_at": iso(self.clock()),
            "event_id": event.event_id,
            "event_type": event.envelope["event_type"],
            "record_type": event.record_type,
            "source_authority": event.envelope["source_authority"],
            "source_topic": message.topic,
            "source_partition": message.partition,
            "source_offset": message.offset,
            "raw_sha256": sha256(message.value or b""),
            # The source pseudonym, so an IG lead can find every share about one
            # person (the authority computes it with the partnership key).
            "subject_pseudonym": event.record.get("subject_pseudo_id"),
        }

    def _audit(
        self,
        base: dict[str, Any],
        the_id: str,
        verdict: str,
        reasons: tuple[Reason, ...],
        *,
        decision: Decision | None,
        share: Outgoing | None = None,
        released: tuple[str, ...] = (),
    ) -> Outgoing:
        record = AuditRecord(
            **base,
            decision_id=the_id,
            decision=verdict,
            reasons=reasons,
            recipient=decision.recipient if decision else NO_AGREEMENT,
            agreement_id=decision.agreement_id if decision else NO_AGREEMENT,
            lawful_basis=decision.lawful_basis if decision else None,
            purpose=decision.purpose if decision else None,
            policy_revision=decision.revision if decision else None,
            fields_released=released,
            shared_topic=share.topic if share is not None else None,
            payload_sha256=sha256(share.value) if share is not None else None,
        )
        return self._audit_message(record)

    # ------------------------------------------------------------------ quarantine

    def _quarantine(self, message: Incoming, reason: Reason) -> list[Outgoing]:
        """The quarantine entry (where the message was, why, its hash and a bounded
        excerpt) and its audit record. Never larger than the contracts allow,
        whatever was written to the raw topic."""
        kind = reason.code
        self.tally.quarantined[kind] += 1
        seen = self.tally.quarantined[kind]
        if seen <= QUIET_AFTER or seen % 1000 == 0:
            more = f" ({seen} {kind} so far; from now on every 1000th is logged)"
            log.warning(
                "quarantined %s: %s%s",
                _where(message),
                reason,
                more if seen >= QUIET_AFTER else "",
            )
        the_id = quarantine_id(message.topic, message.partition, message.offset)
        try:
            claimed: str | None = self.names.parse_raw(message.topic)[0]
        except TopicNameError:
            claimed = None
        now = iso(self.clock())
        where = (message.topic, message.partition, message.offset)
        entry = QuarantineEntry.of(the_id, now, where, reason, key=message.key, value=message.value)
        record = AuditRecord(
            decision_id=the_id,
            decided_at=now,
            decision=QUARANTINE,
            reasons=(reason,),
            event_id=None,
            event_type=None,
            record_type=None,
            source_authority=claimed,
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            raw_sha256=entry.raw_sha256,
            subject_pseudonym=None,
            recipient=None,
            agreement_id=None,
            lawful_basis=None,
            purpose=None,
            policy_revision=None,
            fields_released=(),
            shared_topic=None,
            payload_sha256=None,
        )
        quarantined = self.signed(
            self.names.quarantine,
            the_id.encode(),
            entry.to_bytes(),
            (("decision_id", the_id.encode()),),
        )
        return [quarantined, self._audit_message(record)]

    def _audit_message(self, record: AuditRecord) -> Outgoing:
        the_id = record.decision_id.encode()
        return self.signed(
            self.names.audit_decisions, the_id, record.to_bytes(), (("decision_id", the_id),)
        )

    def signed(
        self, topic: str, key: bytes, value: bytes, headers: tuple[tuple[str, bytes], ...] = ()
    ) -> Outgoing:
        """A message to produce, with the hub's signature over ``value`` in its headers."""
        return Outgoing(topic, key, value, (*headers, *self.signer.sign(value)))

    # ------------------------------------------------------------------ all in one

    def process(self, message: Incoming, decider: Decider) -> list[Outgoing]:
        """check -> decide -> route, synchronously. Raises PolicyUnavailable."""
        checked = self.check(message)
        if not isinstance(checked, Checked):
            return checked
        return self.route(checked, decider.decide(checked.input))

    # ------------------------------------------------------------------ linkage key

    def _linkage_problem(self, event: Event) -> Reason | None:
        """Why the event's pseudonyms are not the partnership's (missing, unregistered
        or foreign linkage-key fingerprint), or None; see hub.enforcer.linkage."""
        return self.linkage.problem(event.envelope) if self.linkage is not None else None


def _code(exc: Exception) -> str:
    """A reason code from an exception's type: ``BadSignature`` -> ``bad_signature``."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _where(message: Incoming) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None
