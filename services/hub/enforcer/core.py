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

import logging
import time
import uuid
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
from hub.enforcer.holdback import HoldBack, applies
from hub.enforcer.index import AWAITING_EVENT, MAX_WAITING, Entry, EventIndex, Pending
from hub.enforcer.kanonymity import KAnonymity
from hub.enforcer.linkage import LinkageCheck
from wire.audit import (
    ALLOW,
    DENY,
    NO_AGREEMENT,
    PSEUDONYM,
    QUARANTINE,
    AuditBase,
    AuditRecord,
    Reason,
    SharedIds,
    batch_bytes,
    batches,
    decision_id,
    quarantine_id,
)
from wire.canonical import ContractError, iso, json_value, sha256, uuid5
from wire.codec import CodecError
from wire.envelope import Event, EventReader
from wire.geography import GeographyLookup
from wire.hub_signing import HubSigner
from wire.quarantine import QuarantineEntry
from wire.shares import Share
from wire.signing import KeyRegistry, KeyRegistryError, SignatureError, UnknownKey, Verifier
from wire.topics import TopicNameError, TopicNames

log = logging.getLogger(__name__)

#: The quarantine code of an event whose decisions break the global rules.
POLICY_VIOLATION = "policy_violation"
#: The quarantine code of a correction or retraction of another authority's event,
#: and of an event whose id another authority published first.
FOREIGN_CHANGE = "foreign_change"
#: The denial code of a retraction for a recipient that never received the event.
NOT_RECEIVED = "not_received"
#: The quarantine code of a retraction that cannot wait for its event (too many wait).
UNKNOWN_EVENT = "unknown_event"
#: The denial code of an event whose correction was routed before it.
SUPERSEDED = "superseded"

#: Namespace of the ids of the retractions the hub makes (UUIDv5).
WITHDRAWAL_NAMESPACE = uuid.UUID("6f1d2c8e-3b7a-5e41-9c05-d2a8b4e7f613")

#: The Retraction reason of a withdrawal the hub makes for a correction that
#: moved an event out of a recipient's scope.
OUT_OF_SCOPE = "OUT_OF_SCOPE"

#: Quarantined messages of one kind logged one by one before only every 1000th is.
QUIET_AFTER = 20

#: Agreements' dates (valid_from, review_by) are dates in England.
LOCAL_TIME = ZoneInfo("Europe/London")

#: How often, at most, the enforcer looks at the key registry file for a change
#: (while messages arrive). A revocation takes effect within this, plus the
#: time the enforcer takes to reach the next message.
REGISTRY_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Incoming:
    """One message from a raw topic.

    ``timestamp`` is when the broker appended it (epoch seconds; raw topics
    are ``LogAppendTime``): the time the hub received the event, which a key's
    revocation is measured against. None when the broker did not stamp it
    (a message from before its topic took the broker's time): then the
    enforcer's clock, now, stands in for it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None


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


@dataclass(frozen=True)
class Change:
    """What an event changes: the earlier event it supersedes or retracts (both
    hub-internal ids, checked to be the same authority's), and the pairs that
    earlier event was shared under."""

    supersedes: str | None = None
    retracts: str | None = None
    earlier: Entry | None = None
    #: The later version that arrived first, if this event is already superseded.
    superseded_by: str | None = None

    def received(self, recipient: str) -> bool:
        """Whether ``recipient`` received the earlier event."""
        return self.earlier is not None and recipient in self.earlier.recipients()


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
        index: EventIndex | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        linkage: LinkageCheck | None = None,
        kanonymity: KAnonymity | None = None,
        batch_audit: bool = False,
    ) -> None:
        self.reader = reader
        #: Audit records are left unsigned, for :meth:`seal` to write as batches
        #: (the app); else each is a message of its own, signed.
        self.batch_audit = batch_audit
        self.index = index if index is not None else EventIndex()
        #: How a waiting retraction gets its decisions when its event arrives
        #: (set by the app and by :meth:`process`); None: it keeps waiting.
        self.decide: Callable[[dict[str, Any]], tuple[Decision, ...]] | None = None
        # The linkage-key check (hub.enforcer.linkage); None only where no event
        # has pseudonyms worth checking (tools). The service always passes one.
        self.linkage = linkage
        # Agreements' min_k (hub.enforcer.holdback over the state in
        # hub.enforcer.kanonymity); None only where no min_k is to be applied
        # (tests of other properties, tools). The service always passes one.
        self.holdback = None if kanonymity is None else HoldBack(self, kanonymity)
        self.signer = signer
        self.classifications = classifications()
        self.anonymiser = anonymiser
        self.lookup: GeographyLookup = anonymiser.lookup
        self.names = names
        self.clock = clock
        # The key registry file is watched: see _watch_registry.
        self.registry_path = registry_path
        self.monotonic = monotonic
        self._registry_stamp = _file_stamp(registry_path)
        self._registry_checked = monotonic()
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
        self._watch_registry()
        try:
            event = self._read(message.value, authority, self._received_at(message))
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

    def _read(self, value: bytes, authority: str, received_at: datetime) -> Event:
        try:
            return self.reader.read(value, authority=authority, received_at=received_at)
        except UnknownKey:
            if not self._reload_registry():
                raise
            return self.reader.read(value, authority=authority, received_at=received_at)

    def _received_at(self, message: Incoming) -> datetime:
        """When the hub received ``message``: the broker's time, else now."""
        if message.timestamp is None:
            return self.clock()
        return datetime.fromtimestamp(message.timestamp, UTC)

    def _watch_registry(self) -> None:
        """Reload the key registry if its file changed, looking at the file at
        most every :data:`REGISTRY_CHECK_SECONDS` (one ``stat``). So a key
        added, or revoked, applies to every message checked from a second or
        so after the file is written, without a restart."""
        if self.registry_path is None:
            return
        now = self.monotonic()
        if now - self._registry_checked < REGISTRY_CHECK_SECONDS:
            return
        self._registry_checked = now
        self._reload_registry()

    def _reload_registry(self) -> bool:
        """Reload the key registry if its file changed since it was last read
        (modification time, size or inode: a file replaced by a rename is a
        new inode); say whether the registry in use changed.

        A changed file that cannot be used (missing, not valid) leaves the
        last good registry in use: the error is logged once per change, and
        the stream goes on."""
        path = self.registry_path
        stamp = _file_stamp(path)
        if path is None or stamp == self._registry_stamp:
            return False
        self._registry_stamp = stamp
        try:
            registry = KeyRegistry.load(path)
        except (KeyRegistryError, ValueError) as exc:
            log.error(
                "the key registry changed but cannot be used; still verifying with the "
                "last good one: %s",
                exc,
            )
            return False
        self.reader = EventReader(self.reader.codec, Verifier(registry))
        log.info("reloaded the key registry %s (%d keys)", path, len(registry))
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
                "offence_group": record.get("offence_group"),
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
        policy in force is wrong.

        A correction or retraction of another authority's event is quarantined
        (``foreign_change``); a retraction whose event has not arrived yet
        waits for it (audited as ``awaiting_event``), and is routed after it.
        Every id a share carries is the recipient's own (:meth:`Anonymiser.scoped_id`)."""
        out = self._route_one(checked, decisions)
        if self.index.get(checked.event.event_id) is not None:
            for pending in self.index.waiting_for(checked.event.event_id):
                out += self._resume(pending)
        for pending in self.index.ready():
            out += self._resume(pending)
        return out

    def _route_one(self, checked: Checked, decisions: tuple[Decision, ...]) -> list[Outgoing]:
        if problem := self._policy_violation(checked.event.record_type, decisions):
            return self._quarantine(checked.message, Reason.bounded(POLICY_VIOLATION, problem))
        change = self._change(checked)
        if not isinstance(change, Change):
            return change
        for decision in decisions:
            self.index.revision = decision.revision
            if decision.allow and decision.lawful_basis is not None:
                self.index.agreements[decision.agreement_id] = (
                    decision.lawful_basis,
                    decision.purpose,
                )
        # Records held back for k-anonymity are decided again under a new revision.
        revised = (
            self.holdback.revision_seen(decisions[0].revision, self.decide)
            if self.holdback is not None and decisions
            else []
        )
        try:
            return revised + self._route(checked, decisions, change)
        except ContractError as exc:
            return revised + self._quarantine(checked.message, Reason.bounded(exc.code, str(exc)))

    def _resume(self, pending: Pending) -> list[Outgoing]:
        """Route a retraction that waited for its event, which has arrived now.
        Its own decisions come from the policy as it stands (a retraction's
        decision input names no area, so the event's decisions do not apply),
        through :attr:`decide`."""
        message = Incoming(
            pending.topic,
            pending.partition,
            pending.offset,
            pending.key,
            pending.value,
            pending.timestamp,  # the broker's time, which a key's revocation is measured against
        )
        checked = self.check(message)
        if not isinstance(checked, Checked):
            return checked
        if self.decide is None:
            return []
        return self._route_one(checked, self.decide(checked.input))

    def _change(self, checked: Checked) -> Change | list[Outgoing]:
        """What the event changes, or its quarantine (a foreign change) or its
        waiting audit record (a retraction ahead of its event)."""
        event = checked.event
        authority = event.envelope["source_authority"]
        known = self.index.get(event.event_id)
        if known is not None and known.authority != authority:
            return self._quarantine(
                checked.message,
                Reason(
                    FOREIGN_CHANGE,
                    f"event id {event.event_id} was published by {known.authority} first; "
                    f"{authority} cannot publish under it",
                ),
            )
        if event.record_type == "Retraction":
            target = str(event.record["retracted_event_id"])
            earlier = self.index.get(target)
            if earlier is None:
                return self._await(checked, target)
            kind = "retract"
            change = Change(retracts=target, earlier=earlier)
        else:
            supersedes = event.envelope["supersedes"]
            later = self.index.superseded.get(event.event_id)
            if known is None and later is not None and later[0] == authority:
                # Its correction came first (their keys, and so partitions, differ):
                # recipients have the later version, so this one is not shared.
                return Change(superseded_by=later[1])
            if supersedes is None:
                return Change()
            target = str(supersedes)
            earlier = self.index.get(target)
            kind = "correct"
            # An unknown earlier version: the event is shared as a first version.
            change = Change(supersedes=target, earlier=earlier)
        if earlier is not None and earlier.authority != authority:
            return self._quarantine(
                checked.message,
                Reason(
                    FOREIGN_CHANGE,
                    f"{authority} cannot {kind} event {target}: only {earlier.authority}, "
                    "which published it, can",
                ),
            )
        return change

    def _await(self, checked: Checked, target: str) -> list[Outgoing]:
        """Keep a retraction until its event arrives; audit that it waits."""
        message = checked.message
        kept = self.index.wait(
            Pending(
                target,
                message.topic,
                message.partition,
                message.offset,
                message.key,
                message.value or b"",
                message.timestamp,
            )
        )
        if not kept:
            return self._quarantine(
                message,
                Reason(
                    UNKNOWN_EVENT,
                    f"the retracted event {target} has not arrived, and {MAX_WAITING} "
                    f"retractions from {message.topic} already wait for theirs",
                ),
            )
        base = self._audit_base(checked, Change(retracts=target))
        reason = Reason(
            AWAITING_EVENT,
            f"the retracted event {target} has not arrived; the retraction is routed when it does",
        )
        the_id = decision_id(checked.event.event_id, NO_AGREEMENT, NO_AGREEMENT)
        return [self._audit(base, the_id, DENY, (reason,), decision=None)]

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

    def _route(
        self, checked: Checked, decisions: tuple[Decision, ...], change: Change
    ) -> list[Outgoing]:
        event = checked.event
        event_id = event.event_id
        authority = event.envelope["source_authority"]
        self.tally.events[authority] += 1
        base = self._audit_base(checked, change)
        if not decisions:
            self.index.record(event_id, authority)
            reason = Reason(
                "no_agreement",
                f"no agreement shares {event.envelope['event_type']} events from {authority}",
            )
            self.tally.denials[str(reason)] += 1
            the_id = decision_id(event_id, NO_AGREEMENT, NO_AGREEMENT)
            denied = self._audit(base, the_id, DENY, (reason,), decision=None)
            return [denied, *self._withdrawals(checked, change, frozenset(), base)]
        out: list[Outgoing] = []
        received: list[tuple[str, str]] = []
        if change.supersedes is not None:
            self.index.superseded.setdefault(change.supersedes, (authority, event_id))
        if self.holdback is not None:
            out += self.holdback.changed(change)
        for decision in decisions:
            produced, shared = self._pair(checked, decision, change, base)
            out += produced
            if shared:
                received.append((decision.recipient, decision.agreement_id))
        self.index.record(event_id, authority, received)
        return out + self._withdrawals(checked, change, frozenset(r for r, _ in received), base)

    def _pair(
        self, checked: Checked, decision: Decision, change: Change, base: AuditBase
    ) -> tuple[list[Outgoing], bool]:
        """The messages for one (agreement, recipient) decision on an event, and
        whether the event was shared to the recipient now."""
        event = checked.event
        the_id = decision_id(event.event_id, decision.recipient, decision.agreement_id)
        reasons = decision.reasons
        share: Outgoing | None = None
        released: tuple[str, ...] = ()
        ids: SharedIds | None = None
        if decision.allow and change.superseded_by is not None:
            reasons = (
                Reason(
                    SUPERSEDED,
                    f"{change.superseded_by}, a later version of this event, came first",
                ),
            )
        elif (
            decision.allow
            and change.retracts is not None
            and not change.received(decision.recipient)
        ):
            reasons = (
                Reason(
                    NOT_RECEIVED, f"{decision.recipient} never received event {change.retracts}"
                ),
            )
        elif self.holdback is not None and applies(decision, event.record_type):
            # The agreement sets min_k: released at some level, held back or withheld.
            return self.holdback.route(checked, decision, the_id, change, base)
        elif decision.allow:
            try:
                share, released, ids = self._share(checked, decision, the_id, change)
            except (AnonymiseError, TypeError, ValueError) as exc:
                reasons = (
                    Reason.bounded("obligation_failed", f"obligations could not be applied: {exc}"),
                )
        if share is None:
            for reason in reasons:
                self.tally.denials[str(reason)] += 1
            return [self._audit(base, the_id, DENY, reasons, decision=decision)], False
        self.tally.shares[decision.recipient] += 1
        if change.retracts is not None and self.holdback is not None:
            self.holdback.withdrawn(decision.recipient, change.retracts)
        audit = self._audit(
            base, the_id, ALLOW, (), decision=decision, share=share, released=released, ids=ids
        )
        return [share, audit], True

    def _withdrawals(
        self,
        checked: Checked,
        change: Change,
        recipients: frozenset[str],
        base: AuditBase,
    ) -> list[Outgoing]:
        """For a correction: a retraction of the earlier version for every recipient
        that received it but does not receive this one (the correction moved the
        event out of its scope), so every view counts the incident once. Sent
        under the agreement the recipient received the earlier version under."""
        if change.supersedes is None or change.earlier is None:
            return []
        event = checked.event
        withdrawal = uuid5(WITHDRAWAL_NAMESPACE, event.event_id)
        revision = self.index.revision
        out: list[Outgoing] = []
        for recipient, agreement in sorted(change.earlier.received):
            if recipient in recipients or revision is None:
                continue
            the_id = decision_id(withdrawal, recipient, agreement)
            fields = {
                "retracted_event_id": self.anonymiser.scoped_id(change.supersedes, recipient),
                "reason": OUT_OF_SCOPE,
            }
            share, ids = self._make_share(
                checked,
                internal_id=withdrawal,
                the_id=the_id,
                recipient=recipient,
                agreement_id=agreement,
                revision=revision,
                event_type="RETRACTION",
                record_type="Retraction",
                supersedes=None,
                fields=fields,
                key=None,
            )
            lawful_basis, purpose = self.index.agreements.get(agreement, (None, None))
            record = base.replace(
                event_id=withdrawal,
                event_type="RETRACTION",
                record_type="Retraction",
                supersedes=None,
                retracts=change.supersedes,
            ).record(
                decision_id=the_id,
                decision=ALLOW,
                reasons=(),
                recipient=recipient,
                agreement_id=agreement,
                lawful_basis=lawful_basis,
                purpose=purpose,
                policy_revision=revision,
                fields_released=tuple(sorted(fields)),
                shared_topic=share.topic,
                payload_sha256=sha256(share.value),
                shared_ids=ids,
            )
            self.index.record(
                withdrawal, event.envelope["source_authority"], [(recipient, agreement)]
            )
            if self.holdback is not None:
                self.holdback.withdrawn(recipient, change.supersedes)
            self.tally.shares[recipient] += 1
            out += [share, self._audit_message(record)]
        return out

    def _share(
        self,
        checked: Checked,
        decision: Decision,
        the_id: str,
        change: Change,
        fields: dict[str, Any] | None = None,
    ) -> tuple[Outgoing, tuple[str, ...], SharedIds]:
        """The share for an allowed decision, the names of the fields it releases,
        and the recipient-scoped ids it carries. ``fields``: the payload fields
        already anonymised (k-anonymity coarsens them); else the obligations are
        applied here.

        Raises ValueError (a ShareError) when the anonymised fields break the
        share contract (say, a value longer than it allows): then nothing is shared."""
        event = checked.event
        recipient = decision.recipient
        if fields is None:
            fields = self.anonymiser.apply(event.record, decision.fields, recipient)
        else:
            fields = dict(fields)
        if change.retracts is not None and "retracted_event_id" in fields:
            fields["retracted_event_id"] = self.anonymiser.scoped_id(change.retracts, recipient)
        supersedes = (
            self.anonymiser.scoped_id(change.supersedes, recipient)
            if change.supersedes is not None and change.received(recipient)
            else None
        )
        # The Kafka key: the recipient's subject pseudonym where the agreement
        # releases it (so one person's events stay in order), else the scoped
        # event id, which never repeats across events.
        subject = fields.get("subject_pseudo_id")
        action = decision.fields.get("subject_pseudo_id", {})
        keyed = isinstance(subject, str) and action.get("action") == "pseudonymise"
        share, ids = self._make_share(
            checked,
            internal_id=event.event_id,
            the_id=the_id,
            recipient=recipient,
            agreement_id=decision.agreement_id,
            revision=decision.revision,
            event_type=event.envelope["event_type"],
            record_type=event.record_type,
            supersedes=supersedes,
            fields=fields,
            key=subject if keyed else None,
        )
        return share, tuple(sorted(fields)), ids

    def _make_share(
        self,
        checked: Checked,
        *,
        internal_id: str,
        the_id: str,
        recipient: str,
        agreement_id: str,
        revision: str,
        event_type: str,
        record_type: str,
        supersedes: str | None,
        fields: dict[str, Any],
        key: str | None,
    ) -> tuple[Outgoing, SharedIds]:
        envelope = checked.event.envelope
        scoped = self.anonymiser.scoped_id
        share = Share(
            share_id=scoped(the_id, recipient),
            event_id=scoped(internal_id, recipient),
            event_type=event_type,
            record_type=record_type,
            source_authority=envelope["source_authority"],
            source_authority_type=envelope["source_authority_type"],
            supersedes=supersedes,
            recipient=recipient,
            agreement_id=agreement_id,
            policy_revision=revision,
            fields=json_value(fields),
        )
        retracted = share.fields.get("retracted_event_id") if record_type == "Retraction" else None
        ids = SharedIds(
            event_id=share.event_id,
            share_id=share.share_id,
            supersedes=supersedes,
            retracted_event_id=retracted if isinstance(retracted, str) else None,
            message_key=key or share.event_id,
        )
        message = self.signed(
            self.names.shared(recipient, event_type),
            ids.message_key.encode(),
            share.to_bytes(),
            (
                ("share_id", share.share_id.encode()),
                ("agreement_id", agreement_id.encode()),
                ("policy_revision", revision.encode()),
            ),
        )
        return message, ids

    def _audit_base(self, checked: Checked, change: Change) -> AuditBase:
        """The parts of an audit record that every decision on one event shares."""
        event, message = checked.event, checked.message
        return AuditBase.of(
            decided_at=iso(self.clock()),
            event_id=event.event_id,
            event_type=event.envelope["event_type"],
            record_type=event.record_type,
            source_authority=event.envelope["source_authority"],
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            raw_sha256=sha256(message.value or b""),
            # The source pseudonym, so an IG lead can find every share about one
            # person (the authority computes it with the partnership key).
            subject_pseudonym=event.record.get("subject_pseudo_id"),
            supersedes=change.supersedes,
            retracts=change.retracts,
        )

    def _audit(
        self,
        base: AuditBase,
        the_id: str,
        verdict: str,
        reasons: tuple[Reason, ...],
        *,
        decision: Decision | None,
        share: Outgoing | None = None,
        released: tuple[str, ...] = (),
        ids: SharedIds | None = None,
    ) -> Outgoing:
        record = base.record(
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
            shared_ids=ids,
        )
        return self._audit_message(record)

    # ------------------------------------------------------------------ for the hold-back

    share_of = _share
    audit_base = _audit_base
    audit = _audit

    def change_of(self, checked: Checked) -> Change:
        """What a record held back changes, as it stands when it is released: the
        version it corrects, with who received that one."""
        supersedes = checked.event.envelope["supersedes"]
        if supersedes is None:
            return Change()
        target = str(supersedes)
        return Change(supersedes=target, earlier=self.index.get(target))

    def recheck(self, message: Incoming) -> Checked | None:
        """A held record's raw message verified and decoded again (after a
        restart), or None if it no longer verifies."""
        checked = self.check(message)
        return checked if isinstance(checked, Checked) else None

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
        headers = (("decision_id", the_id),)
        if self.batch_audit:  # signed by seal(), with the others of its batch
            return Outgoing(self.names.audit_decisions, the_id, record.to_bytes(), headers)
        return self.signed(self.names.audit_decisions, the_id, record.to_bytes(), headers)

    def seal(self, out: list[Outgoing]) -> list[Outgoing]:
        """``out`` with its audit records written as :class:`~wire.audit.AuditBatch`
        messages (one, unless it is too large for one), each signed once and keyed
        by its first record's decision id, after the other messages. Without
        :attr:`batch_audit`, ``out`` unchanged."""
        topic = self.names.audit_decisions
        if not self.batch_audit or not any(o.topic == topic for o in out):
            return out
        rest = [o for o in out if o.topic != topic]
        audits = [o for o in out if o.topic == topic]
        start = 0
        for run in batches([o.value for o in audits]):
            first = audits[start]
            start += len(run)
            headers = (("decision_id", first.key), ("records", b"%d" % len(run)))
            rest.append(self.signed(topic, first.key, batch_bytes(run), headers))
        return rest

    def signed(
        self, topic: str, key: bytes, value: bytes, headers: tuple[tuple[str, bytes], ...] = ()
    ) -> Outgoing:
        """A message to produce, with the hub's signature over ``value`` in its headers."""
        return Outgoing(topic, key, value, (*headers, *self.signer.sign(value)))

    # ------------------------------------------------------------------ all in one

    def process(self, message: Incoming, decider: Decider) -> list[Outgoing]:
        """check -> decide -> route, synchronously. Raises PolicyUnavailable."""
        self.decide = decider.decide
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


def _file_stamp(path: Path | None) -> tuple[int, int, int, int] | None:
    """What tells a changed file: device, inode, size, modification time (ns)."""
    try:
        found = path.stat() if path is not None else None
    except OSError:
        return None
    if found is None:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)
