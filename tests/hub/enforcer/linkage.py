"""How far recipients' streams can be joined: the figures of issue 15, measured
on the messages of the shared topics as a recipient reads them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from wire.shares import Share


def identifiers(share: Share, key: bytes | None) -> set[str]:
    """Every identifier a share message carries: its ids, its key and its pseudonyms."""
    found = {share.share_id, share.event_id}
    if share.supersedes:
        found.add(share.supersedes)
    if key:
        found.add(key.decode("utf-8", "replace"))
    for name, value in share.fields.items():
        if name.endswith("_pseudo_id") or name == "retracted_event_id":
            values = value if isinstance(value, list) else [value]
            found.update(v for v in values if isinstance(v, str))
    return found


def figures(messages: Iterable[Any]) -> dict[str, Any]:
    """From shared-topic messages (``.topic``, ``.key``, ``.value``): identifier
    values found in more than one recipient's stream; events two recipients
    could join on their event id; and, per stream that releases no subject
    pseudonym, the keys that span more than one event and those events."""
    by_recipient: dict[str, set[str]] = defaultdict(set)
    events: dict[str, set[str]] = defaultdict(set)
    keys: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    subject_released: dict[str, bool] = defaultdict(bool)
    for message in messages:
        share = Share.from_bytes(message.value)
        by_recipient[share.recipient] |= identifiers(share, message.key)
        events[share.recipient].add(share.event_id)
        keys[message.topic][(message.key or b"").decode("utf-8", "replace")].add(share.event_id)
        subject_released[message.topic] |= "subject_pseudo_id" in share.fields
    seen_in: dict[str, int] = defaultdict(int)
    for found in by_recipient.values():
        for value in found:
            seen_in[value] += 1
    spanning = {
        topic: [ids for ids in by_key.values() if len(ids) > 1]
        for topic, by_key in keys.items()
        if not subject_released[topic]
    }
    pairs = {
        f"{a}~{b}": len(events[a] & events[b])
        for a in sorted(events)
        for b in sorted(events)
        if a < b and events[a] & events[b]
    }
    return {
        "recipients": len(by_recipient),
        "recipient_events": sum(len(e) for e in events.values()),
        "shared_identifier_values": sum(1 for n in seen_in.values() if n > 1),
        "joinable_events_by_pair": pairs,
        "keys_spanning_events": {t: len(s) for t, s in spanning.items() if s},
        "events_under_spanning_keys": {t: sum(map(len, s)) for t, s in spanning.items() if s},
    }
