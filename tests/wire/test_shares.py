"""Share: every valid share round-trips; anything else is refused with a ShareError."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.records import a_share
from tests.wire.contract_strategies import (
    JSON_TEXTS,
    LARGE_REPR,
    SLOW,
    assert_parses_or_refuses,
    assert_refusal,
    edit,
    garbage,
    records_of_any_values,
    refused_by,
    share_values,
    valid_shares,
)
from wire.canonical import canonical_json
from wire.shares import (
    KEYS,
    MAX_BYTES,
    MAX_ITEMS,
    MAX_VALUE_LENGTH,
    Share,
    ShareError,
    payload_fields,
)

# A failing example of a large record has a long repr; the failure is what matters.
pytestmark = LARGE_REPR


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(valid_shares())
def test_every_valid_share_round_trips(share: Share) -> None:
    data = share.to_bytes()
    assert len(data) <= MAX_BYTES
    assert Share.from_bytes(data) == share
    assert Share.from_bytes(data).to_bytes() == data


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(share_values(large=True))
def test_the_constructor_and_the_parser_agree(values: dict[str, Any]) -> None:
    """What the constructor accepts the parser reads back, and what it refuses the
    parser refuses too: the hub never writes a share its recipients cannot read."""
    try:
        share = Share(**values)
    except ShareError as exc:
        assert_refusal(exc, ShareError)
        with pytest.raises(ShareError):
            Share.from_bytes(canonical_json(values))
        return
    assert Share.from_bytes(share.to_bytes()) == share


@settings(max_examples=200)
@given(st.binary())
def test_arbitrary_bytes_are_refused_with_a_share_error(data: bytes) -> None:
    assert_parses_or_refuses(Share.from_bytes, ShareError, data)


@settings(max_examples=75, deadline=None)
@given(st.one_of(JSON_TEXTS, records_of_any_values(KEYS)))
def test_arbitrary_json_is_refused_with_a_share_error(data: bytes) -> None:
    assert_parses_or_refuses(Share.from_bytes, ShareError, data)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(garbage(valid_shares().map(Share.to_bytes)))
def test_mutated_shares_are_refused_with_a_share_error(data: bytes) -> None:
    assert_parses_or_refuses(Share.from_bytes, ShareError, data)


# -------------------------------------------------------------------- examples

VALID = a_share(1).to_bytes()


def edited(**changes: Any) -> bytes:
    """The valid share's JSON with ``changes`` (a value of ... drops the key)."""
    return edit(VALID, **changes)


def refused(data: bytes | None, field: str, code: str) -> ShareError:
    return refused_by(lambda: Share.from_bytes(data), ShareError, field, code)


def test_the_fixture_share_is_valid() -> None:
    assert Share.from_bytes(VALID).to_bytes() == VALID


def test_no_value_is_refused() -> None:
    refused(None, "(value)", "empty")
    refused(b"", "(value)", "empty")


def test_a_share_over_max_bytes_is_refused_before_it_is_parsed() -> None:
    refused(b"{" * (MAX_BYTES + 1), "(value)", "too_large")


def test_a_share_of_exactly_max_bytes_is_read() -> None:
    value = json.loads(edited(policy_revision="r"))
    value["fields"] = {name: [] for name in sorted(payload_fields("Incident"))}
    lists = iter(value["fields"].values())
    items: list[str] = next(lists)
    while (rest := MAX_BYTES - len(canonical_json(value))) > 100:
        if len(items) == MAX_ITEMS:
            items = next(lists)
        items.append("x" * min(MAX_VALUE_LENGTH, rest - 100))
    value["policy_revision"] += "r" * rest
    data = canonical_json(value)
    assert len(data) == MAX_BYTES
    assert Share.from_bytes(data).to_bytes() == data
    refused(data.replace(b'"r', b'"rr', 1), "(value)", "too_large")


def test_deep_nesting_is_refused_as_too_large_or_too_deep() -> None:
    refused(b"[" * 50_000 + b"]" * 50_000, "(value)", "too_large")
    refused(b"[" * 30_000 + b"]" * 30_000, "(value)", "too_deep")
    refused(b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "(value)", "too_deep")


def test_nesting_one_level_past_the_limit_is_refused() -> None:
    deepest = edited(fields={"geo": {"lad_cd": ["E08000025"]}})
    assert Share.from_bytes(deepest).to_bytes() == deepest
    refused(edited(fields={"geo": {"lad_cd": [["E08000025"]]}}), "(value)", "too_deep")
    refused(edited(fields={"geo": {"lad_cd": [{}]}}), "(value)", "too_deep")
    with pytest.raises(ShareError) as caught:
        a_share(1, geo={"lad_cd": [["E08000025"]]})
    assert_refusal(caught.value, ShareError)
    assert (caught.value.field, caught.value.code) == ("fields.geo.lad_cd[0]", "too_deep")


def test_invalid_utf8_is_refused() -> None:
    refused(VALID.replace(b"18-24", b"18\xff24"), "(value)", "not_utf8")
    refused(VALID.decode().encode("utf-16"), "(value)", "not_utf8")


def test_a_duplicate_key_is_refused() -> None:
    error = refused(VALID[:-1] + b',"recipient":"vrp"}', "recipient", "duplicate_key")
    assert "recipient" in str(error)


def test_an_empty_duplicate_key_names_the_field() -> None:
    refused(b'{"":1,"":2}', '""', "duplicate_key")


def test_an_empty_unexpected_key_names_the_field() -> None:
    refused(edited(**{"": 1}), '""', "unexpected")


def test_non_canonical_json_is_refused() -> None:
    refused(json.dumps(json.loads(VALID)).encode(), "(value)", "not_canonical")
    refused(VALID + b"\n", "(value)", "not_canonical")
    refused(VALID.replace(b"E01900001", b"E0190000\\u0031"), "(value)", "not_canonical")


def test_values_that_cannot_be_canonical_are_refused() -> None:
    refused(VALID.replace(b'"18-24"', b"1e400"), "(value)", "bad_value")
    refused(VALID.replace(b"18-24", b"\\ud800"), "(value)", "not_utf8")


def test_nan_and_other_non_json_is_refused() -> None:
    refused(VALID.replace(b'"18-24"', b"NaN"), "(value)", "not_json")
    refused(VALID[:-1], "(value)", "not_json")
    refused(b"[]", "(value)", "not_object")


def test_a_nul_is_refused_wherever_it_is() -> None:
    refused(edited(recipient="vr\x00p"), "recipient", "nul")
    refused(edited(fields={"victim_age_band": "18\x0024"}), "fields.victim_age_band", "nul")
    refused(edited(fields={"geo": {"lad\x00": "x"}}), "fields.geo.'lad\\x00'", "nul")


def test_an_unknown_field_in_fields_is_refused() -> None:
    error = refused(
        edited(fields={"geo": {}, "home_address": "1 High St"}), "fields.home_address", "unexpected"
    )
    assert "Incident" in str(error)
    refused(edited(fields={"envelope": {}}), "fields.envelope", "unexpected")


def test_missing_unexpected_and_mistyped_keys_are_refused() -> None:
    refused(edited(share_id=...), "share_id", "missing")
    refused(edited(seq=1), "seq", "unexpected")
    refused(edited(recipient=None), "recipient", "wrong_type")
    refused(edited(recipient=7), "recipient", "wrong_type")
    refused(edited(fields=[]), "fields", "wrong_type")
    assert Share.from_bytes(edited(supersedes=None)).supersedes is None


def test_values_outside_their_patterns_are_refused() -> None:
    refused(edited(share_id="not-a-uuid"), "share_id", "bad_value")
    refused(edited(event_type="CRIME"), "event_type", "bad_value")
    refused(edited(record_type="Referral"), "record_type", "bad_value")
    refused(edited(source_authority_type="BANK"), "source_authority_type", "bad_value")
    refused(edited(recipient="VRP"), "recipient", "bad_value")


LIMITS = {
    "share_id": 36,
    "event_id": 36,
    "event_type": 16,
    "record_type": 16,
    "source_authority": 40,
    "source_authority_type": 32,
    "supersedes": 36,
    "recipient": 40,
    "agreement_id": 63,
    "policy_revision": 128,
}


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_each_string_one_past_its_limit_is_too_long(field: str, limit: int) -> None:
    error = refused(edited(**{field: "a" * (limit + 1)}), field, "too_long")
    assert f"{limit + 1} characters" in str(error)


def test_longest_ids_are_read() -> None:
    longest = edited(recipient="r" * 40, agreement_id="a" * 63, policy_revision="p" * 128)
    assert Share.from_bytes(longest).to_bytes() == longest


def test_fields_strings_and_containers_past_their_limits_are_refused() -> None:
    at_limit = edited(fields={"victim_age_band": "é" * MAX_VALUE_LENGTH, "geo": {}})
    assert Share.from_bytes(at_limit).to_bytes() == at_limit
    refused(
        edited(fields={"victim_age_band": "é" * (MAX_VALUE_LENGTH + 1)}),
        "fields.victim_age_band",
        "too_long",
    )
    full = edited(fields={"geo": list(range(MAX_ITEMS))})
    assert Share.from_bytes(full).to_bytes() == full
    refused(edited(fields={"geo": list(range(MAX_ITEMS + 1))}), "fields.geo", "too_long")


def test_the_constructor_refuses_a_share_over_max_bytes() -> None:
    """Each value is within its own limits, but together they are too large to read back."""
    large = ["\x01" * MAX_VALUE_LENGTH] * MAX_ITEMS  # 64 x 256 x 6 bytes escaped
    with pytest.raises(ShareError) as caught:
        a_share(1, geo=large)
    assert_refusal(caught.value, ShareError)
    assert (caught.value.field, caught.value.code) == ("(value)", "too_large")


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    with pytest.raises(ShareError) as caught:
        a_share(1, victim_age_band="18\ud80024")
    assert (caught.value.field, caught.value.code) == ("fields.victim_age_band", "not_utf8")


def test_the_constructor_refuses_what_the_parser_refuses() -> None:
    with pytest.raises(ShareError, match=r"fields\.home_address"):
        a_share(1, home_address="1 High St")
    with pytest.raises(ShareError, match="recipient"):
        a_share(1, recipient="VRP")
