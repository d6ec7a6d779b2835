"""AuditRecord and Reason: every valid record round-trips, on the topic and in the ledger;
anything else is refused with an AuditRecordError."""

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.records import audit_record
from tests.wire.contract_strategies import (
    CODES,
    JSON_TEXTS,
    JSON_VALUES,
    LARGE_REPR,
    REASONS,
    SLOW,
    assert_parses_or_refuses,
    assert_refusal,
    audit_json,
    audit_records,
    audit_values,
    edit,
    garbage,
    records_of_any_values,
    refused_by,
)
from wire.audit import (
    DENY,
    KEYS,
    MAX_BYTES,
    MAX_FIELDS,
    MAX_MESSAGE,
    MAX_REASONS,
    NO_AGREEMENT,
    QUARANTINE,
    QUERY_COLUMNS,
    AuditRecord,
    AuditRecordError,
    Reason,
)
from wire.canonical import canonical_json

# A failing example of a large record has a long repr; the failure is what matters.
pytestmark = LARGE_REPR


def from_ledger(data: bytes) -> AuditRecord:
    return AuditRecord.from_bytes(data, sequenced=True)


FORMS: dict[str, tuple[bool, Callable[[bytes], AuditRecord]]] = {
    "topic": (False, AuditRecord.from_bytes),
    "ledger": (True, from_ledger),
}


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_every_valid_record_round_trips(form: str, data: st.DataObject) -> None:
    sequenced, parse = FORMS[form]
    record = data.draw(audit_records(sequenced=sequenced))
    encoded = record.to_bytes()
    assert len(encoded) <= MAX_BYTES
    assert parse(encoded) == record
    assert parse(encoded).to_bytes() == encoded
    assert ("seq" in json.loads(encoded)) is sequenced


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(audit_records())
def test_a_record_in_the_ledger_is_the_record_on_the_topic_with_its_seq(
    record: AuditRecord,
) -> None:
    ledger = record.sequenced(7)
    assert from_ledger(ledger.to_bytes()) == ledger
    assert json.loads(ledger.to_bytes()) == {**json.loads(record.to_bytes()), "seq": 7}
    with pytest.raises(AuditRecordError, match="seq"):
        AuditRecord.from_bytes(ledger.to_bytes())
    with pytest.raises(AuditRecordError, match="seq"):
        from_ledger(record.to_bytes())


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(audit_records(), st.integers(min_value=0, max_value=2**63 - 1))
def test_the_ledgers_bytes_are_the_sequenced_records(record: AuditRecord, seq: int) -> None:
    """The splice the ledger writes with is the record at its position, byte for byte."""
    assert record.sequenced_bytes(seq) == record.sequenced(seq).to_bytes()
    assert from_ledger(record.sequenced_bytes(seq)) == record.sequenced(seq)
    with pytest.raises(AuditRecordError, match="seq"):
        record.sequenced_bytes(-1)


def test_a_reason_that_quotes_the_key_does_not_move_seq() -> None:
    denied = audit_record(0)  # the VRP's decision of event 0 is denied
    record = dataclasses.replace(
        denied, reasons=(Reason("past_review_date", ',"shared_ids":null,"seq":1'),)
    )
    assert record.sequenced_bytes(5) == record.sequenced(5).to_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(audit_values(sequenced=True))
def test_the_constructor_and_the_parser_agree(values: dict[str, Any]) -> None:
    """What the constructor accepts the ledger reads back, and what it refuses the
    parser refuses too: the enforcer never writes a record the ledger cannot keep."""
    try:
        record = AuditRecord(**values)
    except AuditRecordError as exc:
        assert_refusal(exc, AuditRecordError)
        with pytest.raises(AuditRecordError):
            from_ledger(canonical_json(audit_json(values)))
        return
    assert from_ledger(record.to_bytes()) == record


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(audit_records(sequenced=True))
def test_every_accepted_value_fits_its_ledger_column(record: AuditRecord) -> None:
    for column, length in QUERY_COLUMNS:
        value = getattr(record, column)
        assert value is None or len(value) <= length, column


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=100)
@given(data=st.binary())
def test_arbitrary_bytes_are_refused_with_an_audit_record_error(form: str, data: bytes) -> None:
    assert_parses_or_refuses(FORMS[form][1], AuditRecordError, data)


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=50, deadline=None)
@given(data=st.one_of(JSON_TEXTS, records_of_any_values((*KEYS, "seq"))))
def test_arbitrary_json_is_refused_with_an_audit_record_error(form: str, data: bytes) -> None:
    assert_parses_or_refuses(FORMS[form][1], AuditRecordError, data)


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_mutated_records_are_refused_with_an_audit_record_error(
    form: str, data: st.DataObject
) -> None:
    sequenced, parse = FORMS[form]
    valid = audit_records(sequenced=sequenced).map(AuditRecord.to_bytes)
    assert_parses_or_refuses(parse, AuditRecordError, data.draw(garbage(valid)))


@settings(max_examples=50, deadline=None)
@given(audit_records(), st.lists(st.one_of(JSON_VALUES, REASONS.map(Reason.to_dict))))
def test_any_reasons_are_read_or_refused_with_an_audit_record_error(
    record: AuditRecord, reasons: list[Any]
) -> None:
    value = json.loads(record.to_bytes())
    value["reasons"] = reasons
    assert_parses_or_refuses(AuditRecord.from_bytes, AuditRecordError, canonical_json(value))


# ---------------------------------------------------------------------- Reason


@settings(max_examples=40, deadline=None)
@given(REASONS)
def test_every_valid_reason_round_trips_in_a_denial(reason: Reason) -> None:
    record = audit_record(0, reasons=(reason,))
    assert AuditRecord.from_bytes(record.to_bytes()).reasons == (reason,)


@settings(max_examples=75, deadline=None)
@given(
    CODES,
    st.text(st.one_of(st.characters(codec=None), st.characters(categories=["Cs"])))
    | st.text(min_size=MAX_MESSAGE - 2),
)
def test_a_bounded_reason_is_always_a_valid_reason(code: str, message: str) -> None:
    """``Reason.bounded`` takes any message (often an exception's, about untrusted
    input) and gives a reason a record can carry."""
    reason = Reason.bounded(code, message)
    assert len(reason.message) <= MAX_MESSAGE
    record = audit_record(0, reasons=(reason,))
    assert AuditRecord.from_bytes(record.to_bytes()).reasons == (reason,)


def test_a_reason_is_checked_when_constructed() -> None:
    for code, message, field, kind in (
        ("Bad", "m", "reason.code", "bad_value"),
        ("", "m", "reason.code", "bad_value"),
        ("c" * 65, "m", "reason.code", "too_long"),
        ("c", "m" * (MAX_MESSAGE + 1), "reason.message", "too_long"),
        ("c", "a\x00b", "reason.message", "nul"),
    ):
        with pytest.raises(AuditRecordError) as caught:
            Reason(code, message)
        assert_refusal(caught.value, AuditRecordError)
        assert (caught.value.field, caught.value.code) == (field, kind)
    assert Reason("c" * 64, "m" * MAX_MESSAGE).message == "m" * MAX_MESSAGE


def test_a_long_bounded_reason_is_cut_with_an_ellipsis() -> None:
    reason = Reason.bounded("not_avro", "x\x00" * MAX_MESSAGE)
    assert len(reason.message) == MAX_MESSAGE
    assert reason.message.endswith("…")
    assert "\x00" not in reason.message


# -------------------------------------------------------------------- examples

ALLOWED = audit_record(1).to_bytes()
DENIED = audit_record(0).to_bytes()


def refused(
    data: bytes | None, field: str, code: str, *, sequenced: bool = False
) -> AuditRecordError:
    return refused_by(
        lambda: AuditRecord.from_bytes(data, sequenced=sequenced), AuditRecordError, field, code
    )


def test_the_fixture_records_are_valid() -> None:
    for data in (ALLOWED, DENIED):
        assert AuditRecord.from_bytes(data).to_bytes() == data


def test_the_limits_of_the_whole_value() -> None:
    refused(None, "(value)", "empty")
    refused(b" " * (MAX_BYTES + 1), "(value)", "too_large")
    refused(b"[" * 30_000 + b"]" * 30_000, "(value)", "too_deep")
    refused(edit(DENIED, reasons=[[[]]]), "(value)", "too_deep")
    refused(ALLOWED.replace(b"wmp", b"w\xc3mp", 1), "(value)", "not_utf8")
    refused(ALLOWED[:-1] + b',"decision":"deny"}', "decision", "duplicate_key")
    refused(ALLOWED.replace(b",", b", "), "(value)", "not_canonical")
    refused(ALLOWED.replace(b"0,", b"1e400,", 1), "(value)", "bad_value")
    refused(ALLOWED.replace(b"wmp", b"\\udc00", 1), "(value)", "not_utf8")
    refused(b'"a record"', "(value)", "not_object")


def test_a_record_within_max_bytes_at_every_limit_is_read() -> None:
    reasons = [{"code": "c" * 64, "message": "é" * MAX_MESSAGE}] * MAX_REASONS
    data = edit(DENIED, reasons=reasons, purpose="p" * MAX_MESSAGE)
    assert len(data) <= MAX_BYTES
    assert AuditRecord.from_bytes(data).to_bytes() == data


def test_a_nul_is_refused() -> None:
    refused(edit(DENIED, purpose="a\x00b"), "purpose", "nul")
    refused(edit(DENIED, reasons=[{"code": "c", "message": "\x00"}]), "reasons[0].message", "nul")


def test_an_allow_record_with_reasons_is_refused() -> None:
    error = refused(edit(ALLOWED, reasons=[{"code": "c", "message": "m"}]), "reasons", "bad_value")
    assert "allow" in str(error)


@pytest.mark.parametrize("key", ["recipient", "agreement_id", "shared_topic", "payload_sha256"])
def test_an_allow_record_names_where_it_shared(key: str) -> None:
    refused(edit(ALLOWED, **{key: None}), key, "missing")
    if key in ("recipient", "agreement_id"):
        refused(edit(ALLOWED, **{key: NO_AGREEMENT}), key, "missing")


@pytest.mark.parametrize("decision", [DENY, QUARANTINE])
def test_a_denial_or_quarantine_gives_a_reason_and_shares_nothing(decision: str) -> None:
    denied = edit(DENIED, decision=decision)
    assert AuditRecord.from_bytes(denied).decision == decision
    refused(edit(denied, reasons=[]), "reasons", "missing")
    refused(edit(denied, shared_topic="svd.shared.vrp.incident"), "shared_topic", "bad_value")
    refused(edit(denied, payload_sha256="00" * 32), "payload_sha256", "bad_value")
    refused(edit(denied, fields_released=["geo"]), "fields_released", "bad_value")
    for recipient in (None, NO_AGREEMENT):
        no_pair = edit(denied, recipient=recipient, agreement_id=recipient)
        assert AuditRecord.from_bytes(no_pair).to_bytes() == no_pair


def test_event_type_and_record_type_go_together() -> None:
    refused(edit(DENIED, record_type="Referral"), "record_type", "bad_value")
    refused(edit(DENIED, record_type=None), "record_type", "bad_value")
    refused(edit(DENIED, event_type=None), "record_type", "bad_value")
    neither = edit(DENIED, event_type=None, record_type=None)
    assert AuditRecord.from_bytes(neither).event_type is None


def test_missing_unexpected_and_mistyped_keys_are_refused() -> None:
    refused(edit(ALLOWED, raw_sha256=...), "raw_sha256", "missing")
    refused(edit(ALLOWED, extra=1), "extra", "unexpected")
    refused(edit(ALLOWED, **{"": 1}), '""', "unexpected")
    refused(edit(ALLOWED, seq=1), "seq", "unexpected")
    refused(ALLOWED, "seq", "missing", sequenced=True)
    refused(edit(ALLOWED, reasons={}), "reasons", "wrong_type")
    refused(edit(DENIED, reasons=["why"]), "reasons[0]", "wrong_type")
    refused(edit(DENIED, reasons=[{"code": "c"}]), "reasons[0].message", "missing")
    refused(
        edit(DENIED, reasons=[{"code": "c", "message": "m", "x": 1}]),
        "reasons[0].x",
        "unexpected",
    )
    refused(edit(ALLOWED, source_offset="0"), "source_offset", "wrong_type")
    refused(edit(ALLOWED, source_offset=True), "source_offset", "wrong_type")
    refused(edit(ALLOWED, source_offset=0.0), "source_offset", "wrong_type")
    refused(edit(ALLOWED, fields_released="geo"), "fields_released", "wrong_type")
    refused(edit(ALLOWED, fields_released=["Geo"]), "fields_released[0]", "bad_value")


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("source_partition", 0, 2**31 - 1), ("source_offset", 0, 2**63 - 1), ("seq", 0, 2**63 - 1)],
)
def test_integers_at_their_bounds_are_read_and_past_them_refused(
    field: str, low: int, high: int
) -> None:
    ledger = edit(ALLOWED, seq=0)
    for good in (low, high):
        data = edit(ledger, **{field: good})
        assert AuditRecord.from_bytes(data, sequenced=True).to_bytes() == data
    for bad in (low - 1, high + 1):
        error = refused(edit(ledger, **{field: bad}), field, "out_of_range", sequenced=True)
        assert str(bad) in str(error)


LIMITS = {
    "decision_id": 36,
    "decided_at": 27,
    "decision": 16,
    "event_id": 36,
    "event_type": 16,
    "record_type": 16,
    "source_authority": 40,
    "source_topic": 249,
    "raw_sha256": 64,
    "subject_pseudonym": 128,
    "recipient": 40,
    "agreement_id": 63,
    "lawful_basis": 32,
    "purpose": MAX_MESSAGE,
    "policy_revision": 128,
    "shared_topic": 249,
    "payload_sha256": 64,
}


@pytest.mark.parametrize(("field", "limit"), LIMITS.items())
def test_each_string_one_past_its_limit_is_too_long(field: str, limit: int) -> None:
    error = refused(edit(ALLOWED, **{field: "a" * (limit + 1)}), field, "too_long")
    assert f"{limit + 1} characters" in str(error)


def test_arrays_past_their_limits_are_refused() -> None:
    reason = {"code": "c", "message": "m"}
    assert AuditRecord.from_bytes(edit(DENIED, reasons=[reason] * MAX_REASONS))
    refused(edit(DENIED, reasons=[reason] * (MAX_REASONS + 1)), "reasons", "too_long")
    refused(
        edit(DENIED, reasons=[{"code": "c" * 65, "message": "m"}]), "reasons[0].code", "too_long"
    )
    refused(
        edit(DENIED, reasons=[{"code": "c", "message": "m" * (MAX_MESSAGE + 1)}]),
        "reasons[0].message",
        "too_long",
    )
    names = [f"f{i}" for i in range(MAX_FIELDS)]
    assert AuditRecord.from_bytes(edit(ALLOWED, fields_released=names))
    refused(edit(ALLOWED, fields_released=[*names, "g"]), "fields_released", "too_long")
    refused(edit(ALLOWED, fields_released=["f" * 65]), "fields_released[0]", "too_long")


def test_the_constructor_refuses_a_record_over_max_bytes() -> None:
    """Sixteen reasons of the longest message fit only if they need no escapes."""
    loud = tuple(Reason("c", "\x01" * MAX_MESSAGE) for _ in range(MAX_REASONS))
    with pytest.raises(AuditRecordError) as caught:
        audit_record(0, reasons=loud)
    assert_refusal(caught.value, AuditRecordError)
    assert (caught.value.field, caught.value.code) == ("(value)", "too_large")
    assert audit_record(0, reasons=loud[:8])


def test_the_constructor_refuses_text_it_cannot_encode() -> None:
    with pytest.raises(AuditRecordError) as caught:
        audit_record(0, purpose="a\udfffb")
    assert (caught.value.field, caught.value.code) == ("purpose", "not_utf8")
    with pytest.raises(AuditRecordError) as caught:
        Reason("c", "\ud800")
    assert (caught.value.field, caught.value.code) == ("reason.message", "not_utf8")


def test_a_bounded_reason_replaces_a_lone_surrogate() -> None:
    reason = Reason.bounded("not_avro", "bad \udcff byte")
    assert reason.message == "bad \\udcff byte"
    assert AuditRecord.from_bytes(audit_record(0, reasons=(reason,)).to_bytes()).reasons == (
        reason,
    )


def test_the_constructor_refuses_what_the_parser_refuses() -> None:
    with pytest.raises(AuditRecordError, match="allow decision has no reasons"):
        audit_record(1, reasons=(Reason("c", "m"),))
    with pytest.raises(AuditRecordError, match="seq"):
        audit_record(1, seq=-1)


# ------------------------------------------------------------ scoped ids


def test_a_record_from_before_scoped_ids_is_still_read() -> None:
    """The ledger and the audit topic keep records written before the hub scoped
    ids: they have none of the keys, and read as having none."""
    value = audit_record(1).to_dict()
    for key in ("supersedes", "retracts", "shared_ids"):
        del value[key]
    record = AuditRecord.from_bytes(canonical_json(value))
    assert record.decision == "allow"
    assert (record.supersedes, record.retracts, record.shared_ids) == (None, None, None)
    sealed = AuditRecord.from_bytes(canonical_json({**value, "seq": 4}), sequenced=True)
    assert sealed.sequenced(4) == sealed  # the ledger can seal it


def test_an_allow_written_now_names_its_shared_ids() -> None:
    value = audit_record(1).to_dict()
    with pytest.raises(AuditRecordError, match="shared_ids"):
        AuditRecord.from_bytes(canonical_json({**value, "shared_ids": None}))
    partial = {k: v for k, v in value.items() if k != "retracts"}
    with pytest.raises(AuditRecordError, match="retracts"):
        AuditRecord.from_bytes(canonical_json(partial))
    denied = audit_record(0).to_dict()
    ids = value["shared_ids"]
    with pytest.raises(AuditRecordError, match="shares nothing"):
        AuditRecord.from_bytes(canonical_json({**denied, "shared_ids": ids}))
