"""QuarantineEntry: every valid entry round-trips; anything else is refused with a
QuarantineEntryError; an entry for any message, however large, is valid."""

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wire.contract_strategies import (
    CODES,
    JSON_TEXTS,
    LARGE_REPR,
    OFFSETS,
    PARTITIONS,
    SLOW,
    TIMES,
    TOPICS,
    UUIDS,
    assert_parses_or_refuses,
    edit,
    garbage,
    quarantine_entries,
    records_of_any_values,
    refused_by,
    texts,
)
from wire.audit import MAX_MESSAGE, Reason
from wire.canonical import sha256
from wire.quarantine import (
    EXCERPT_BYTES,
    KEY_EXCERPT_BYTES,
    KEYS,
    MAX_BYTES,
    QuarantineEntry,
    QuarantineEntryError,
)

# A failing example of a large entry has a long repr; the failure is what matters.
pytestmark = LARGE_REPR


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(quarantine_entries())
def test_every_valid_entry_round_trips(entry: QuarantineEntry) -> None:
    data = entry.to_bytes()
    assert len(data) <= MAX_BYTES
    assert QuarantineEntry.from_bytes(data) == entry
    assert QuarantineEntry.from_bytes(data).to_bytes() == data


def _messages(limit: int) -> st.SearchStrategy[bytes | None]:
    """None, a few bytes, or up to twice ``limit`` bytes."""
    large = st.tuples(st.binary(min_size=1, max_size=8), st.integers(limit - 1, 2 * limit))
    return st.one_of(
        st.none(), st.binary(max_size=32), large.map(lambda pair: (pair[0] * pair[1])[: pair[1]])
    )


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(
    st.tuples(UUIDS, TIMES, TOPICS, PARTITIONS, OFFSETS),
    st.builds(Reason, CODES, texts(MAX_MESSAGE)),
    _messages(KEY_EXCERPT_BYTES),
    _messages(EXCERPT_BYTES),
)
def test_an_entry_for_any_message_is_valid(
    place: tuple[str, str, str, int, int], reason: Reason, key: bytes | None, value: bytes | None
) -> None:
    """The enforcer quarantines whatever a raw topic holds: the entry is always valid."""
    the_id, now, topic, partition, offset = place
    entry = QuarantineEntry.of(
        the_id, now, (topic, partition, offset), reason, key=key, value=value
    )
    assert QuarantineEntry.from_bytes(entry.to_bytes()) == entry
    assert entry.reason == reason
    assert entry.raw_sha256 == sha256(value or b"")
    assert entry.raw_size == len(value or b"")
    assert entry.value_excerpt() == (None if value is None else value[:EXCERPT_BYTES])
    if key is None:
        assert entry.key_excerpt is None
    else:
        assert base64.b64decode(entry.key_excerpt or "") == key[:KEY_EXCERPT_BYTES]


@settings(max_examples=200)
@given(st.binary())
def test_arbitrary_bytes_are_refused_with_a_quarantine_entry_error(data: bytes) -> None:
    assert_parses_or_refuses(QuarantineEntry.from_bytes, QuarantineEntryError, data)


@settings(max_examples=75, deadline=None)
@given(st.one_of(JSON_TEXTS, records_of_any_values(KEYS)))
def test_arbitrary_json_is_refused_with_a_quarantine_entry_error(data: bytes) -> None:
    assert_parses_or_refuses(QuarantineEntry.from_bytes, QuarantineEntryError, data)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(garbage(quarantine_entries().map(QuarantineEntry.to_bytes)))
def test_mutated_entries_are_refused_with_a_quarantine_entry_error(data: bytes) -> None:
    assert_parses_or_refuses(QuarantineEntry.from_bytes, QuarantineEntryError, data)


# -------------------------------------------------------------------- examples

VALID = QuarantineEntry.of(
    "5f0e1a3c-2b4d-5e6f-8a9b-0c1d2e3f4a5b",
    "2026-11-06T23:00:00.123456Z",
    ("svd.raw.wmp.incident", 3, 42),
    Reason("bad_signature", 'the signature does not verify: "sig"\n'),
    key=b"k",
    value=b"\x00\xffvalue",
).to_bytes()


def edited(**changes: Any) -> bytes:
    return edit(VALID, **changes)


def refused(data: bytes | None, field: str, code: str) -> QuarantineEntryError:
    return refused_by(lambda: QuarantineEntry.from_bytes(data), QuarantineEntryError, field, code)


def test_the_example_entry_is_valid() -> None:
    assert QuarantineEntry.from_bytes(VALID).to_bytes() == VALID


def test_the_limits_of_the_whole_value() -> None:
    refused(b"", "(value)", "empty")
    refused(b"{" * (MAX_BYTES + 1), "(value)", "too_large")
    refused(b"[" * 50_000 + b"]" * 50_000, "(value)", "too_deep")
    refused(edited(message=["m"]), "(value)", "too_deep")
    refused(VALID.replace(b"wmp", b"\xe2\x82", 1), "(value)", "not_utf8")
    refused(VALID[:-1] + b',"code":"x"}', "code", "duplicate_key")
    refused(VALID.replace(b":", b": "), "(value)", "not_canonical")
    refused(VALID.replace(b":42", b":4.2e1"), "(value)", "not_canonical")
    refused(VALID.replace(b":42", b":1e999"), "(value)", "bad_value")
    refused(VALID.replace(b"sig", b"\\ud800"), "(value)", "not_utf8")
    refused(b"null", "(value)", "not_object")


def test_an_entry_at_every_limit_is_read() -> None:
    value = b"v" * EXCERPT_BYTES
    entry = QuarantineEntry.of(
        "5f0e1a3c-2b4d-5e6f-8a9b-0c1d2e3f4a5b",
        "2026-11-06T23:00:00Z",
        ("t" * 249, 2**31 - 1, 2**63 - 1),
        Reason("c" * 64, "\x01" * MAX_MESSAGE),
        key=b"k" * (KEY_EXCERPT_BYTES + 1),
        value=value + b"more",
    )
    data = entry.to_bytes()
    assert len(data) <= MAX_BYTES
    assert QuarantineEntry.from_bytes(data) == entry
    assert entry.value_excerpt() == value
    assert entry.raw_size == EXCERPT_BYTES + 4


def test_a_nul_is_refused() -> None:
    refused(edited(message="a\x00b"), "message", "nul")


def test_the_excerpt_is_base64_of_the_kept_bytes() -> None:
    refused(edited(excerpt="not base64!"), "excerpt", "bad_value")
    refused(edited(excerpt="QQ"), "excerpt", "bad_value")
    refused(edited(key_excerpt="QQ="), "key_excerpt", "bad_value")
    refused(edited(raw_size=99), "excerpt", "bad_value")
    refused(edited(excerpt=""), "excerpt", "bad_value")
    no_value = edited(excerpt=None, raw_size=0, raw_sha256=sha256(b""))
    assert QuarantineEntry.from_bytes(no_value).value_excerpt() is None
    longest = base64.b64encode(b"x" * EXCERPT_BYTES).decode()
    refused(edited(excerpt=longest + "AAAA", raw_size=2**40), "excerpt", "too_long")


def test_missing_unexpected_and_mistyped_keys_are_refused() -> None:
    refused(edited(code=...), "code", "missing")
    refused(edited(seq=1), "seq", "unexpected")
    refused(edited(**{"": None}), '""', "unexpected")
    refused(edited(code=None), "code", "wrong_type")
    refused(edited(code="Bad Signature"), "code", "bad_value")
    refused(edited(raw_size=-1), "raw_size", "out_of_range")
    refused(edited(source_partition=2**31), "source_partition", "out_of_range")
    refused(edited(source_offset=2**63), "source_offset", "out_of_range")
    refused(edited(quarantined_at="2026-11-06 23:00:00"), "quarantined_at", "bad_value")


LIMITS = {
    "quarantine_id": 36,
    "quarantined_at": 27,
    "source_topic": 249,
    "code": 64,
    "message": MAX_MESSAGE,
    "raw_sha256": 64,
}


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_each_string_one_past_its_limit_is_too_long(field: str, limit: int) -> None:
    error = refused(edited(**{field: "a" * (limit + 1)}), field, "too_long")
    assert f"{limit + 1} characters" in str(error)


@pytest.mark.parametrize("extra", [1, 2, 3])
def test_a_key_excerpt_past_its_limit_is_refused(extra: int) -> None:
    """Base64 of 1,025 or 1,026 bytes is no longer than of 1,024, so the bytes are counted."""
    longest = base64.b64encode(b"k" * KEY_EXCERPT_BYTES).decode()
    assert QuarantineEntry.from_bytes(edited(key_excerpt=longest))
    too_long = base64.b64encode(b"k" * (KEY_EXCERPT_BYTES + extra)).decode()
    error = refused(edited(key_excerpt=too_long), "key_excerpt", "too_long")
    assert "key_excerpt" in str(error)


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    entry = json.loads(VALID)
    entry["message"] = "bad \udcff byte"
    with pytest.raises(QuarantineEntryError) as caught:
        QuarantineEntry(**entry)
    assert (caught.value.field, caught.value.code) == ("message", "not_utf8")
