"""QuarantineEntry: what the constructor accepts, the parser reads back."""

import base64
import json

import pytest

from wire.audit import Reason
from wire.canonical import canonical_json
from wire.quarantine import KEY_EXCERPT_BYTES, QuarantineEntry, QuarantineEntryError

VALID = QuarantineEntry.of(
    "5f0e1a3c-2b4d-5e6f-8a9b-0c1d2e3f4a5b",
    "2026-11-06T23:00:00.123456Z",
    ("svd.raw.wmp.incident", 3, 42),
    Reason("bad_signature", 'the signature does not verify: "sig"\n'),
    key=b"k",
    value=b"\x00\xffvalue",
).to_bytes()


def edited(**changes: object) -> bytes:
    return canonical_json({**json.loads(VALID), **changes})


@pytest.mark.parametrize("extra", [1, 2, 3])
def test_a_key_excerpt_past_its_limit_is_refused(extra: int) -> None:
    """Base64 of 1,025 or 1,026 bytes is no longer than of 1,024, so the bytes are counted."""
    longest = base64.b64encode(b"k" * KEY_EXCERPT_BYTES).decode()
    assert QuarantineEntry.from_bytes(edited(key_excerpt=longest))
    too_long = base64.b64encode(b"k" * (KEY_EXCERPT_BYTES + extra)).decode()
    with pytest.raises(QuarantineEntryError) as caught:
        QuarantineEntry.from_bytes(edited(key_excerpt=too_long))
    assert (caught.value.field, caught.value.code) == ("key_excerpt", "too_long")
    assert "key_excerpt" in str(caught.value)


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    entry = json.loads(VALID)
    entry["message"] = "bad \udcff byte"
    with pytest.raises(QuarantineEntryError) as caught:
        QuarantineEntry(**entry)
    assert (caught.value.field, caught.value.code) == ("message", "not_utf8")
