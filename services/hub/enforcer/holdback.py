"""The enforcer's side of k-anonymity: shares and audit records for the pairs an
agreement's ``min_k`` governs.

For an allowed (agreement, recipient) pair whose decision carries ``min_k``
(and a record that is not a retraction), :class:`HoldBack` works out the
record's class key at every level of its hierarchy (``hub.enforcer.hierarchy``),
asks :class:`~hub.enforcer.kanonymity.KAnonymity` where it goes, and turns each
outcome into messages:

* released at a level: the share, its fields coarsened to that level, and
  the allow audit record, as for any share;
* held back: an audit record that says so (a denial with the code
  ``k_anonymity_held``, under an id of its own, :func:`held_id`); the
  record's real decision comes later, under its decision id;
* released later (because other records of its class arrived): the share and
  the allow audit record, produced with the messages of the record whose
  arrival released it;
* withheld: the denial, code ``k_anonymity``; a held record its authority
  corrects or retracts first is denied with ``superseded`` or ``retracted``.

A record held back waits with its raw message and its decision (in the
changelog), so it can be released after a restart. When the policy revision
changes, every held record is decided again: one the new policy no longer
allows, or allows on other terms, is denied then, so a record is only ever
released under the policy in force.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from hub.enforcer.anonymise import AnonymiseError
from hub.enforcer.decisions import Decision
from hub.enforcer.hierarchy import Hierarchy
from hub.enforcer.kanonymity import RETRACTED, SUPERSEDED, KAnonymity, Member, Outcome, StreamId
from hub.risk.classes import EVENT_TIME, K_ANONYMITY, K_ANONYMITY_HELD, class_key
from wire.audit import ALLOW, DENY, AuditBase, Reason
from wire.canonical import uuid5

if TYPE_CHECKING:
    from hub.enforcer.core import Change, Checked, Enforcer, Incoming, Outgoing

log = logging.getLogger(__name__)

#: Namespace of the ids of the audit records that say a record is held back
#: (UUIDv5 of its decision id); its decision follows under the decision id itself.
HELD_NAMESPACE = uuid.UUID("3e9b7c41-58d2-5a6f-8c0e-71b4d2f9a6c3")

#: Each final code's message (one per code, so summaries group them).
MESSAGES = {
    K_ANONYMITY_HELD: "held back until its class reaches the agreement's min_k "
    "(k-anonymity); its decision follows",
    K_ANONYMITY: "withheld: its class did not reach the agreement's min_k in time, "
    "even at the coarsest level (k-anonymity)",
    SUPERSEDED: "held back for k-anonymity, then corrected by its authority before it was released",
    RETRACTED: "held back for k-anonymity, then retracted by its authority before it was released",
}

#: The message of a held record the policy in force now shares on other terms.
TERMS_CHANGED = "held back for k-anonymity; the agreement's terms changed before it was released"


def held_id(the_id: str) -> str:
    """The id of the audit record that says decision ``the_id`` is held back."""
    return uuid5(HELD_NAMESPACE, the_id)


def terms(decision: Decision) -> str:
    """A digest of what shapes a stream's classes: the field obligations and min_k."""
    return decision.terms


def stream_of(decision: Decision, record_type: str) -> StreamId:
    return StreamId(decision.recipient, decision.agreement_id, record_type, terms(decision))


def applies(decision: Decision, record_type: str) -> bool:
    """Whether an allowed decision's record goes through k-anonymity."""
    return decision.allow and decision.min_k is not None and record_type != "Retraction"


@dataclass
class Held:
    """What releasing or denying a held record takes: the checked event and its
    decision (checked again under each new policy revision)."""

    checked: Checked
    decision: Decision


class HoldBack:
    """Routes the pairs under ``min_k``; messages are made by the enforcer."""

    def __init__(self, enforcer: Enforcer, state: KAnonymity) -> None:
        self.enforcer = enforcer
        self.state = state
        #: The policy revision held records were last decided again under.
        self.revision: str | None = None

    # ------------------------------------------------------------------ one pair

    def route(
        self,
        checked: Checked,
        decision: Decision,
        the_id: str,
        change: Change,
        base: AuditBase | None = None,
    ) -> tuple[list[Outgoing], bool]:
        """The messages for one allowed pair under min_k, and whether the record was
        shared to the recipient now. ``base``: the event's audit base, if made."""
        event = checked.event
        try:
            hierarchy, fields, keys = self.levels(checked, decision)
        except (AnonymiseError, TypeError, ValueError) as exc:
            reason = Reason.bounded("obligation_failed", f"obligations could not be applied: {exc}")
            return [self._deny(checked, change, decision, the_id, (reason,), base=base)], False
        stream = stream_of(decision, event.record_type)
        known = self.state.known(the_id)
        if known is not None:  # processed again (at-least-once): the same outcome
            again = Outcome(stream, Member(event.event_id, the_id, keys, (), _time(checked)), None)
            if known.level is not None:
                again = Outcome(stream, again.member, known.level)
            elif known.code is not None:
                again = Outcome(stream, again.member, None, known.code)
            out = self._own(
                again,
                checked=checked,
                decision=decision,
                change=change,
                hierarchy=hierarchy,
                fields=fields,
                base=base,
            )
            for other in known.released:
                out += self._other(other)
            return out, known.level is not None
        moment = _time(checked)
        member = Member(
            event.event_id,
            the_id,
            keys,
            hierarchy.closes(moment),
            moment,
            replaces=change.supersedes,
            payload=_payload(checked.message, decision),
            context=Held(checked, decision),
        )
        assert decision.min_k is not None  # noqa: S101 - applies() said so
        outcomes = self.state.offer(stream, decision.min_k, member)
        out = self._own(
            outcomes[0],
            checked=checked,
            decision=decision,
            change=change,
            hierarchy=hierarchy,
            fields=fields,
            base=base,
        )
        for other in outcomes[1:]:
            out += self._other(other)
        return out, outcomes[0].released

    def levels(
        self, checked: Checked, decision: Decision
    ) -> tuple[Hierarchy, dict[str, Any], tuple[str, ...]]:
        """The record's hierarchy, its fields as the agreement releases them, and its
        class key at each level. Raises AnonymiseError (or TypeError, ValueError)
        when the obligations cannot be applied."""
        event = checked.event
        anonymiser = self.enforcer.anonymiser
        fields = anonymiser.apply(event.record, decision.fields, decision.recipient)
        hierarchy = Hierarchy.of(event.record_type, decision.fields)
        keys = tuple(
            class_key(
                event.record_type,
                # class_key writes the values as JSON (times as text), as a share carries them.
                hierarchy.at(level, fields, event.record, anonymiser, decision.recipient),
            )
            for level in range(len(hierarchy.levels))
        )
        return hierarchy, fields, keys

    # ------------------------------------------------------------------ changes

    def changed(self, change: Change) -> list[Outgoing]:
        """A correction or retraction of an event held back somewhere: there it is
        denied (``superseded``, ``retracted``), since it was never released."""
        if change.retracts is not None:
            return self._others(self.state.drop_held(change.retracts, RETRACTED))
        if change.supersedes is not None:
            return self._others(self.state.drop_held(change.supersedes, SUPERSEDED))
        return []

    def withdrawn(self, recipient: str, event_id: str) -> None:
        """``recipient`` was sent a retraction of ``event_id``: its class shrinks."""
        self.state.withdrawn(recipient, event_id)

    def revision_seen(
        self, revision: str, decide: Callable[[dict[str, Any]], tuple[Decision, ...]] | None
    ) -> list[Outgoing]:
        """When decisions name a new policy revision (or, after a start, the first
        one): decide every held record again; deny those the policy in force no
        longer allows, or allows on other terms."""
        if revision == self.revision:
            return []
        self.revision = revision
        if decide is None:
            return []
        out: list[Outgoing] = []
        for stream, member in list(self.state.held()):
            held = self._context(member, stream)
            if held is None:
                continue
            decisions = decide(self.enforcer.decision_input(held.checked.event))
            current = next(
                (
                    d
                    for d in decisions
                    if (d.agreement_id, d.recipient) == (stream.agreement_id, stream.recipient)
                ),
                None,
            )
            same = current is not None and stream_of(current, stream.record_type) == stream
            if current is not None and current.allow and same:
                member.context = Held(held.checked, current)
                continue
            if current is not None and not current.allow:
                reasons = current.reasons
            else:
                reasons = (Reason(K_ANONYMITY, TERMS_CHANGED),)
            for outcome in self.state.drop(stream, member.event_id, reasons[0].code):
                out += self._other(outcome, reasons)
        return out

    # ------------------------------------------------------------------ messages

    def _own(
        self,
        outcome: Outcome,
        *,
        checked: Checked,
        decision: Decision,
        change: Change,
        hierarchy: Hierarchy,
        fields: dict[str, Any],
        base: AuditBase | None,
    ) -> list[Outgoing]:
        the_id = outcome.member.decision_id
        if outcome.level is None:
            code = outcome.code or K_ANONYMITY
            reason = Reason(code, MESSAGES.get(code, code))
            record_id = held_id(the_id) if code == K_ANONYMITY_HELD else the_id
            return [self._deny(checked, change, decision, record_id, (reason,), base=base)]
        return self._allow(
            checked,
            decision,
            the_id=the_id,
            change=change,
            hierarchy=hierarchy,
            level=outcome.level,
            fields=fields,
            base=base,
        )

    def _other(self, outcome: Outcome, reasons: tuple[Reason, ...] | None = None) -> list[Outgoing]:
        """The messages for a held record that goes now: its share, or its denial."""
        member = outcome.member
        held = self._context(member, outcome.stream)
        if held is None:
            return []
        checked, decision = held.checked, held.decision
        change = self.enforcer.change_of(checked)
        if outcome.level is None:
            code = outcome.code or K_ANONYMITY
            found = reasons or (Reason(code, MESSAGES.get(code, code)),)
            return [self._deny(checked, change, decision, member.decision_id, found)]
        try:
            hierarchy, fields, _ = self.levels(checked, decision)
        except (AnonymiseError, TypeError, ValueError) as exc:  # it applied when it arrived
            log.error("a held record can no longer be anonymised: %s", exc)
            return []
        out = self._allow(
            checked,
            decision,
            the_id=member.decision_id,
            change=change,
            hierarchy=hierarchy,
            level=outcome.level,
            fields=fields,
        )
        event = checked.event
        self.enforcer.index.record(
            event.event_id,
            event.envelope["source_authority"],
            [(decision.recipient, decision.agreement_id)],
        )
        return out

    def _others(self, outcomes: list[Outcome]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for outcome in outcomes:
            out += self._other(outcome)
        return out

    def _allow(
        self,
        checked: Checked,
        decision: Decision,
        *,
        the_id: str,
        change: Change,
        hierarchy: Hierarchy,
        level: int,
        fields: dict[str, Any],
        base: AuditBase | None = None,
    ) -> list[Outgoing]:
        enforcer = self.enforcer
        record = checked.event.record
        coarse = hierarchy.at(level, fields, record, enforcer.anonymiser, decision.recipient)
        share, released, ids = enforcer.share_of(checked, decision, the_id, change, coarse)
        enforcer.tally.shares[decision.recipient] += 1
        base = base or enforcer.audit_base(checked, change)
        audit = enforcer.audit(
            base, the_id, ALLOW, (), decision=decision, share=share, released=released, ids=ids
        )
        return [share, audit]

    def _deny(
        self,
        checked: Checked,
        change: Change,
        decision: Decision,
        the_id: str,
        reasons: tuple[Reason, ...],
        *,
        base: AuditBase | None = None,
    ) -> Outgoing:
        enforcer = self.enforcer
        for reason in reasons:
            enforcer.tally.denials[str(reason)] += 1
        base = base or enforcer.audit_base(checked, change)
        return enforcer.audit(base, the_id, DENY, reasons, decision=decision)

    def _context(self, member: Member, stream: StreamId) -> Held | None:
        """The held record's checked event and decision: in memory, or read again
        from its raw message (after a restart). None, with the record denied in
        the state, when the message no longer verifies (its key was revoked
        from a time before it arrived): it is never released."""
        if isinstance(member.context, Held):
            return member.context
        payload = member.payload or {}
        try:
            message = _message(payload["raw"])
            decision = _decision(payload["decision"])
        except (KeyError, TypeError, ValueError) as exc:
            log.error("a held record's changelog entry is unreadable (%s); it is dropped", exc)
            self.state.drop(stream, member.event_id, K_ANONYMITY)
            return None
        checked = self.enforcer.recheck(message)
        if checked is None:
            log.error(
                "a held record (%s[%d]@%d) no longer verifies; it is never released",
                message.topic,
                message.partition,
                message.offset,
            )
            self.state.drop(stream, member.event_id, K_ANONYMITY)
            return None
        held = Held(checked, decision)
        member.context = held
        return held


# ---------------------------------------------------------------------- helpers


def _time(checked: Checked) -> datetime:
    """The record's event time (its event-time field, else when the envelope says
    it occurred), for the window."""
    event = checked.event
    value = event.record.get(EVENT_TIME.get(event.record_type, ""))
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(UTC)
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    occurred = event.envelope.get("occurred_at")
    if isinstance(occurred, datetime) and occurred.utcoffset() is not None:
        return occurred.astimezone(UTC)
    return datetime.now(UTC)


def _payload(message: Incoming, decision: Decision) -> dict[str, Any]:
    """A held record's raw message and decision, as JSON for the changelog."""
    return {
        "raw": {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": None if message.key is None else base64.b64encode(message.key).decode(),
            "value": base64.b64encode(message.value or b"").decode(),
            "timestamp": message.timestamp,
        },
        "decision": {
            "allow": decision.allow,
            "reasons": [r.to_dict() for r in decision.reasons],
            "agreement_id": decision.agreement_id,
            "recipient": decision.recipient,
            "lawful_basis": decision.lawful_basis,
            "purpose": decision.purpose,
            "revision": decision.revision,
            "fields": decision.fields,
            "min_k": decision.min_k,
        },
    }


def _message(raw: dict[str, Any]) -> Incoming:
    from hub.enforcer.core import Incoming  # noqa: PLC0415 - core imports this module

    key = raw["key"]
    timestamp = raw["timestamp"]
    return Incoming(
        str(raw["topic"]),
        int(raw["partition"]),
        int(raw["offset"]),
        None if key is None else base64.b64decode(key),
        base64.b64decode(raw["value"]),
        None if timestamp is None else float(timestamp),
    )


def _decision(value: dict[str, Any]) -> Decision:
    min_k = value.get("min_k")
    return Decision(
        allow=bool(value["allow"]),
        reasons=tuple(Reason(str(r["code"]), str(r["message"])) for r in value["reasons"]),
        agreement_id=str(value["agreement_id"]),
        recipient=str(value["recipient"]),
        lawful_basis=str(value["lawful_basis"]),
        purpose=str(value["purpose"]),
        revision=str(value["revision"]),
        fields={str(k): dict(v) for k, v in dict(value["fields"]).items()},
        min_k=None if min_k is None else int(min_k),
    )
