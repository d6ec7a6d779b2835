"""Strict reading of canonical JSON: every refusal is the contract's own error."""

import pytest

from wire.canonical import ContractError, check_text, load_object


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
def test_a_number_beyond_a_float_is_not_canonical(number: bytes) -> None:
    """Python reads 1e400 as infinity, which canonical JSON cannot write."""
    error = refused(b'{"a":' + number + b"}")
    assert (error.field, error.code) == ("(value)", "not_canonical")


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\udc00", b"\\ude00\\ud83d"])
def test_a_lone_surrogate_is_not_canonical(escape: bytes) -> None:
    """JSON can escape a lone surrogate; UTF-8, and so canonical JSON, cannot hold one."""
    error = refused(b'{"a":"' + escape + b'"}')
    assert (error.field, error.code) == ("(value)", "not_canonical")
    error = refused(b'{"' + escape + b'":1}')
    assert (error.field, error.code) == ("(value)", "not_canonical")


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
