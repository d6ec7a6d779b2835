"""Strict reading of canonical JSON: whatever the bytes, a value or a ContractError."""

from __future__ import annotations

import contextlib
import datetime
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wire.contract_strategies import JSON_VALUES
from wire import canonical
from wire.audit import AuditBatch, AuditRecord
from wire.canonical import ContractError, canonical_json, check_text, depth, load_object
from wire.quarantine import QuarantineEntry
from wire.shares import Share

PARSERS: list[Callable[[bytes], Any]] = [
    Share.from_bytes,
    AuditRecord.from_bytes,
    AuditBatch.from_bytes,
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


class ExampleError(ContractError):
    contract = "example"


def refused(data: bytes) -> ExampleError:
    with pytest.raises(ExampleError) as caught:
        load_object(data, ExampleError, max_bytes=1024, max_depth=4)
    assert type(caught.value) is ExampleError
    return caught.value


def test_canonical_json_is_read() -> None:
    assert load_object(b'{"a":[1.5,"\\u0000\xc3\xa9"]}', ExampleError, max_bytes=64, max_depth=2)


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1E999", b"123e456"])
def test_a_number_beyond_a_float_is_refused(number: bytes) -> None:
    """Python reads 1e400 as infinity, which canonical JSON cannot write."""
    error = refused(b'{"a":' + number + b"}")
    assert (error.field, error.code) == ("(value)", "bad_value")


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\udc00", b"\\ude00\\ud83d"])
def test_a_lone_surrogate_is_refused(escape: bytes) -> None:
    """JSON can escape a lone surrogate; UTF-8, and so canonical JSON, cannot hold one."""
    error = refused(b'{"a":"' + escape + b'"}')
    assert (error.field, error.code) == ("(value)", "not_utf8")
    error = refused(b'{"' + escape + b'":1}')
    assert (error.field, error.code) == ("(value)", "not_utf8")


def test_a_surrogate_pair_is_read_but_only_as_the_character_itself() -> None:
    refused(b'{"a":"\\ud83d\\ude00"}')
    value = load_object('{"a":"\U0001f600"}'.encode(), ExampleError, max_bytes=64, max_depth=1)
    assert value == {"a": "\U0001f600"}


def test_an_empty_key_is_named() -> None:
    error = refused(b'{"":1,"":2}')
    assert (error.field, error.code) == ('""', "duplicate_key")
    assert str(error) == 'example: "": the key appears more than once'
    assert ExampleError("", "unexpected", "not a field").field == '""'


def test_text_with_a_lone_surrogate_is_refused() -> None:
    """A constructor must not accept text its record cannot encode."""
    with pytest.raises(ExampleError) as caught:
        check_text("a\ud800", 10, error=ExampleError, where="name")
    assert (caught.value.field, caught.value.code) == ("name", "not_utf8")
    check_text("é\U0001f600\x01", 10, error=ExampleError, where="name")


def _nesting(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


@settings(max_examples=200)
@given(JSON_VALUES, st.integers(min_value=0, max_value=6))
def test_depth_is_the_nesting_counted_no_further_than_the_limit(value: Any, limit: int) -> None:
    found = depth(value, limit)
    assert found == _nesting(value) if _nesting(value) <= limit else found == limit + 1


def _one_by_one(data: bytes, max_depth: int) -> Any:
    """What ``load_object`` gives with no fast read: the checks one by one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(canonical, "canonical_object", lambda *_: None)
        return load_object(data, ExampleError, max_bytes=10_000, max_depth=max_depth)


def _agree(data: bytes, max_depth: int) -> None:
    """The fast read of canonical JSON accepts nothing the checks one by one refuse,
    and gives the same value; and ``load_object`` says what they say."""
    try:
        expected = _one_by_one(data, max_depth)
    except ExampleError as exc:
        refusal = (exc.field, exc.code)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return
        assert canonical.canonical_object(text, data, max_depth) is None
        with pytest.raises(ExampleError) as caught:
            load_object(data, ExampleError, max_bytes=10_000, max_depth=max_depth)
        assert (caught.value.field, caught.value.code) == refusal
        return
    assert load_object(data, ExampleError, max_bytes=10_000, max_depth=max_depth) == expected
    fast = canonical.canonical_object(data.decode("utf-8"), data, max_depth)
    assert fast is None or fast == expected


@settings(max_examples=300)
@given(st.lists(_FRAGMENTS, max_size=24).map("".join), st.integers(min_value=0, max_value=4))
def test_the_fast_read_of_json_like_text_agrees_with_the_checks_one_by_one(
    text: str, max_depth: int
) -> None:
    _agree(text.encode("utf-8"), max_depth)


@settings(max_examples=200)
@given(JSON_VALUES, st.integers(min_value=0, max_value=6))
def test_the_fast_read_of_any_json_value_agrees_with_the_checks_one_by_one(
    value: Any, max_depth: int
) -> None:
    with contextlib.suppress(ValueError):  # a value canonical JSON cannot write
        _agree(canonical_json({"v": value}), max_depth)
        _agree(canonical_json({"v": value, "w": [value, {"x": value}]}), max_depth)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a":1,"a":1}', "duplicate_key"),  # the C parser keeps the last; re-encoded, shorter
        (b'{"a":NaN}', "not_json"),
        (b'{"a":-Infinity}', "not_json"),
        (b'{"a":"\\ud800"}', "not_utf8"),
        (b'{"b":1,"a":2}', "not_canonical"),
        (b'{"a":[[[[[1]]]]]}', "too_deep"),
        (b"[1]", "not_object"),
    ],
)
def test_what_the_fast_read_leaves_is_refused_by_name(data: bytes, code: str) -> None:
    assert canonical.canonical_object(data.decode(), data, 4) is None
    assert refused(data).code == code


# ------------------------------------------------------------ json_value

PYTHON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(exclude_categories=["Cs"])),
        st.datetimes(timezones=st.just(datetime.UTC)),
        st.dates(),
        st.uuids(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(PYTHON_VALUES)
def test_json_value_is_the_value_written_and_read_again(value: Any) -> None:
    assert canonical.json_value(value) == json.loads(canonical_json(value))
    assert canonical_json(canonical.json_value(value)) == canonical_json(value)


def test_json_value_leaves_what_json_cannot_hold_for_the_contract_to_refuse() -> None:
    odd = {1: "a key that is not text", "nan": math.nan}
    kept = canonical.json_value(odd)
    assert 1 in kept and math.isnan(kept["nan"])
    with pytest.raises(ContractError):
        canonical.check_json(kept, ContractError, "fields", max_depth=4, max_length=9, max_items=9)
