"""Strict reading of canonical JSON: whatever the bytes, a value or a ContractError."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire.audit import AuditRecord
from wire.canonical import ContractError, load_object
from wire.quarantine import QuarantineEntry
from wire.shares import Share

PARSERS: list[Callable[[bytes], Any]] = [
    Share.from_bytes,
    AuditRecord.from_bytes,
    QuarantineEntry.from_bytes,
]


def load(data: bytes) -> Any:
    return load_object(data, ContractError, max_bytes=10_000, max_depth=4)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a":"\\ud800"}', "not_utf8"),  # JSON, but no UTF-8 can encode it
        (b'{"\\udc00":1}', "not_utf8"),
        (b'{"a":1e999}', "bad_value"),  # JSON, but read as infinity
        (b'{"a":-1e400}', "bad_value"),
    ],
)
def test_values_without_a_canonical_form_are_contract_errors(data: bytes, code: str) -> None:
    with pytest.raises(ContractError) as caught:
        load(data)
    assert (caught.value.field, caught.value.code) == ("(value)", code)
    for parse in PARSERS:
        with pytest.raises(ContractError):
            parse(data)


_FRAGMENTS = st.sampled_from(
    [
        *("{", "}", "[", "]", ":", ",", '"a"', '"x"', "1", "-0", "1e999", "NaN", "null"),
        *('"\\ud800"', '"\\u0000"', '"\\', " ", "\xff", "é"),
    ]
)


@settings(max_examples=400)
@given(st.lists(_FRAGMENTS, max_size=24).map("".join))
def test_json_like_text_gives_a_value_or_a_contract_error(text: str) -> None:
    with contextlib.suppress(ContractError):
        load(text.encode("utf-8"))


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_any_bytes_give_a_value_or_a_contract_error(data: bytes) -> None:
    for parse in PARSERS:
        with contextlib.suppress(ContractError):
            parse(data)
