"""QuarantineEntry: what the constructor accepts, the parser reads back."""

import json

import pytest

from wire.audit import Reason
from wire.quarantine import QuarantineEntry, QuarantineEntryError

VALID = QuarantineEntry.of(
    "5f0e1a3c-2b4d-5e6f-8a9b-0c1d2e3f4a5b",
    "2026-11-06T23:00:00.123456Z",
    ("svd.raw.wmp.incident", 3, 42),
    Reason("bad_signature", 'the signature does not verify: "sig"\n'),
    key=b"k",
    value=b"\x00\xffvalue",
).to_bytes()


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    entry = json.loads(VALID)
    entry["message"] = "bad \udcff byte"
    with pytest.raises(QuarantineEntryError) as caught:
        QuarantineEntry(**entry)
    assert (caught.value.field, caught.value.code) == ("message", "not_utf8")
