"""Decisions from OPA, cached by policy revision and decision-relevant input.

The enforcer asks :class:`Decider` for the decisions on one event. The input
holds only what a decision depends on (authority, event and record type, LAD,
the sensitive-location flags and today's date; see ``docs/policy.md``), so
many events share one cached answer. Every cached answer belongs to the
revision it was made under: :meth:`Decider.check_revision` asks OPA for
``data.svd.meta.revision`` and, when it has changed, empties the cache, and an
answer that names a revision other than the current one does the same. The
enforcer calls ``check_revision`` every couple of seconds, so a new bundle
takes effect without a restart.

Failing closed: every transport error, OPA error, undefined rule or answer of
the wrong shape raises :class:`~hub.enforcer.policy.PolicyUnavailable`; nothing is
cached then, and the caller must not share.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hub.enforcer.policy import PolicyClient, PolicyUnavailable
from wire.audit import LAWFUL_BASIS, MAX_MESSAGE, MAX_REASONS, Reason
from wire.canonical import ContractError, canonical_json
from wire.shares import AGREEMENT_ID, REVISION
from wire.topics import PARTY_ID

PACKAGE = "svd.share"
RULE = "decisions"


@dataclass(frozen=True)
class Decision:
    """OPA's answer for one (agreement, recipient) pair of one event."""

    allow: bool
    reasons: tuple[Reason, ...]  # why it is denied: the Rego rules' codes and messages
    agreement_id: str
    recipient: str
    lawful_basis: str
    purpose: str
    revision: str
    fields: dict[str, dict[str, str]]  # the field obligations (empty when denied)
    #: The k-anonymity the agreement requires of record-level shares (None: none).
    min_k: int | None = None

    @cached_property
    def terms(self) -> str:
        """A digest of what shapes a k-anonymity stream's classes: the field
        obligations and min_k (worked out once: a decision does not change)."""
        text = canonical_json({"fields": self.fields, "min_k": self.min_k})
        return hashlib.sha256(text).hexdigest()[:16]


def parse_decisions(result: Any) -> tuple[Decision, ...]:
    """The decisions in ``data.svd.share.decisions``, sorted by agreement and recipient.

    Raises PolicyUnavailable for an answer of the wrong shape, or with values
    an audit record cannot hold: the policy is broken, and a broken policy must
    not share anything."""
    if not isinstance(result, dict):
        raise PolicyUnavailable(f"data.{PACKAGE}.{RULE} is not an object: {result!r:.200}")
    decisions = []
    for key, value in result.items():
        try:
            decision = Decision(
                allow=_typed(value["allow"], bool),
                reasons=tuple(_reason(reason) for reason in _typed(value["reasons"], list)),
                agreement_id=_typed(value["agreement_id"], str),
                recipient=_typed(value["recipient"], str),
                lawful_basis=_typed(value["lawful_basis"], str),
                purpose=_typed(value["purpose"], str),
                revision=_typed(value["revision"], str),
                fields=_typed(value["obligations"]["fields"], dict),
                min_k=_min_k(value["obligations"]),
            )
        except (KeyError, TypeError, ContractError) as exc:
            raise PolicyUnavailable(
                f"data.{PACKAGE}.{RULE}[{key!r}] is not a decision ({exc}): {value!r:.300}"
            ) from exc
        if decision.allow == bool(decision.reasons):
            raise PolicyUnavailable(
                f"data.{PACKAGE}.{RULE}[{key!r}]: allow must be true exactly when "
                "there are no reasons"
            )
        for name, found, pattern in (
            ("agreement_id", decision.agreement_id, AGREEMENT_ID),
            ("recipient", decision.recipient, PARTY_ID),
            ("lawful_basis", decision.lawful_basis, LAWFUL_BASIS),
            ("revision", decision.revision, REVISION),
        ):
            if not pattern.fullmatch(found):
                raise PolicyUnavailable(
                    f"data.{PACKAGE}.{RULE}[{key!r}]: {name} {found!r:.80} is not valid"
                )
        if len(decision.reasons) > MAX_REASONS:
            raise PolicyUnavailable(
                f"data.{PACKAGE}.{RULE}[{key!r}]: more than {MAX_REASONS} reasons"
            )
        if len(decision.purpose) > MAX_MESSAGE or "\x00" in decision.purpose:
            raise PolicyUnavailable(
                f"data.{PACKAGE}.{RULE}[{key!r}]: the purpose is longer than {MAX_MESSAGE} "
                "characters or holds a NUL"
            )
        decisions.append(decision)
    return tuple(sorted(decisions, key=lambda d: (d.agreement_id, d.recipient)))


#: The largest min_k an answer may carry (no stream would ever release a record).
MAX_MIN_K = 1000


def _min_k(obligations: Any) -> int | None:
    """``obligations.min_k``: absent, or a whole number from 2 to :data:`MAX_MIN_K`."""
    found = _typed(obligations, dict).get("min_k")
    if found is None:
        return None
    if isinstance(found, bool) or not isinstance(found, int) or not 2 <= found <= MAX_MIN_K:
        raise TypeError(f"min_k must be a whole number from 2 to {MAX_MIN_K}, not {found!r:.40}")
    return found


def _reason(value: Any) -> Reason:
    """A denial reason: ``{"code": <the rule's custom.code>, "message": ...}``."""
    reason = _typed(value, dict)
    if set(reason) != {"code", "message"}:
        raise TypeError(f"a reason has the keys code and message, not {sorted(reason)}")
    return Reason(_typed(reason["code"], str), _typed(reason["message"], str))


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


class Decider:
    """Asks OPA through a PolicyClient; caches answers per revision (LRU, bounded).

    Thread-safe: the enforcer calls OPA from a worker thread so that a slow
    OPA never blocks its event loop."""

    def __init__(self, client: PolicyClient, max_entries: int = 100_000) -> None:
        self.client = client
        self.max_entries = max_entries
        self.revision: str | None = None
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, tuple[Decision, ...]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def cache_key(input_data: dict[str, Any]) -> str:
        return json.dumps(input_data, sort_keys=True, separators=(",", ":"))

    def cached(self, input_data: dict[str, Any]) -> tuple[Decision, ...] | None:
        """The cached decisions for this input under the current revision, if any."""
        key = self.cache_key(input_data)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                self.misses += 1
                return None
            self._cache.move_to_end(key)
            self.hits += 1
            return found

    def fetch(self, input_data: dict[str, Any]) -> tuple[Decision, ...]:
        """Ask OPA (no cache), then cache the answer. Raises PolicyUnavailable."""
        decisions = parse_decisions(self.client.evaluate(PACKAGE, RULE, input_data))
        revisions = {decision.revision for decision in decisions}
        if len(revisions) > 1:
            raise PolicyUnavailable(f"one answer names several policy revisions: {revisions}")
        with self._lock:
            if revisions and revisions != {self.revision}:
                self._new_revision(revisions.pop())
            self._cache[self.cache_key(input_data)] = decisions
            if len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return decisions

    def decide(self, input_data: dict[str, Any]) -> tuple[Decision, ...]:
        """Cached decisions, else OPA's. Raises PolicyUnavailable."""
        found = self.cached(input_data)
        return found if found is not None else self.fetch(input_data)

    def check_revision(self) -> str | None:
        """Ask OPA for the bundle revision; on a change, clear the cache and
        return the new revision (None when unchanged). Raises PolicyUnavailable."""
        revision = self.client.evaluate("svd.meta", "revision", {})
        if not isinstance(revision, str) or not revision:
            raise PolicyUnavailable(f"data.svd.meta.revision is not a revision: {revision!r:.100}")
        with self._lock:
            if revision == self.revision:
                return None
            self._new_revision(revision)
            return revision

    def parties(self) -> dict[str, Any]:
        """``data.svd.parties`` of the bundle in force (authorities and recipients)."""
        parties = self.client.evaluate("svd", "parties", {})
        if not isinstance(parties, dict):
            raise PolicyUnavailable(f"data.svd.parties is not an object: {parties!r:.100}")
        return parties

    def agreements(self) -> dict[str, dict[str, Any]]:
        """``data.svd.agreements`` of the bundle in force, by agreement id."""
        agreements = self.client.evaluate("svd", "agreements", {})
        if not isinstance(agreements, dict) or not all(
            isinstance(agreement, dict) for agreement in agreements.values()
        ):
            raise PolicyUnavailable(f"data.svd.agreements is not an object: {agreements!r:.100}")
        return agreements

    def _new_revision(self, revision: str) -> None:
        self.revision = revision
        self._cache.clear()
