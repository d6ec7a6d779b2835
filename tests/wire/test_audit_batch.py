"""The audit batch: the decisions for one raw message, as one message on the
audit topic. Hostile batches are refused with an AuditRecordError naming the
record and field; single records from before batches are still read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fixtures.records import audit_record
from tests.wire.contract_strategies import (
    LARGE_REPR,
    SLOW,
    assert_parses_or_refuses,
    assert_refusal,
    audit_records,
    garbage,
)
from wire.audit import (
    BASE_KEYS,
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_BYTES,
    MAX_DEPTH,
    AuditBatch,
    AuditRecord,
    AuditRecordError,
    batch_bytes,
    batches,
    read_audit_message,
)
from wire.canonical import canonical_json

pytestmark = LARGE_REPR


def refusal(data: bytes) -> AuditRecordError:
    with pytest.raises(AuditRecordError) as caught:
        read_audit_message(data)
    return caught.value


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(st.lists(audit_records(), min_size=1, max_size=12))
def test_every_valid_batch_round_trips_and_is_canonical(records: list[AuditRecord]) -> None:
    batch = AuditBatch(tuple(records))
    encoded = batch.to_bytes()
    assert encoded == canonical_json({"records": [r.to_dict() for r in records]})
    assert AuditBatch.from_bytes(encoded) == batch
    assert read_audit_message(encoded) == tuple(records)


def test_a_single_record_as_written_before_batches_is_still_read() -> None:
    record = audit_record(1)
    assert read_audit_message(record.to_bytes()) == (record,)


def test_the_error_names_the_record_and_its_field() -> None:
    good = [audit_record(n).to_dict() for n in range(3)]
    good[2]["decision"] = "maybe"
    error = refusal(canonical_json({"records": good}))
    assert error.field == "records[2].decision"


@pytest.mark.parametrize(
    ("value", "field", "code"),
    [
        ({"records": []}, "records", "bad_value"),
        ({"records": "x"}, "records", "wrong_type"),
        ({"records": [1]}, "records[0]", "wrong_type"),
        ({"records": [audit_record(1).to_dict()], "extra": 1}, "extra", "unexpected"),
        ({"records": [{"records": [audit_record(1).to_dict()]}]}, "(value)", "too_deep"),
    ],
)
def test_malformed_batches_are_refused(value: object, field: str, code: str) -> None:
    error = refusal(canonical_json(value))
    assert (error.field, error.code) == (field, code)


def test_a_batch_past_its_limits_is_refused() -> None:
    record = audit_record(1).to_dict()
    too_many = canonical_json({"records": [record] * (MAX_BATCH_RECORDS + 1)})
    assert len(too_many) < MAX_BATCH_BYTES
    assert refusal(too_many).field == "records"
    huge = b'{"records":[' + b" " * MAX_BATCH_BYTES + b"]}"
    assert refusal(huge).code == "too_large"
    # One record alone past MAX_BYTES is refused as before batches.
    single = audit_record(1).to_dict()
    single["purpose"] = "x" * (MAX_BYTES + 1)
    assert refusal(canonical_json(single)).code == "too_large"
    # A record nested deeper than a record may be, alone.
    deep = audit_record(1).to_dict()
    deep["reasons"] = [{"code": [[["x"]]]}]
    assert refusal(canonical_json(deep)).code == "too_deep"
    with pytest.raises(AuditRecordError):
        AuditBatch(())


def test_batches_cut_any_run_of_records_into_valid_batches() -> None:
    small = audit_record(1).to_bytes()
    runs = batches([small] * (2 * MAX_BATCH_RECORDS + 3))
    assert [len(r) for r in runs] == [MAX_BATCH_RECORDS, MAX_BATCH_RECORDS, 3]
    for run in runs:
        assert len(AuditBatch.from_bytes(batch_bytes(run)).records) == len(run)
    # Records of up to MAX_BYTES each are cut by size before they reach the count.
    big = [bytes([65 + n % 26]) * MAX_BYTES for n in range(40)]
    cut = batches(big)
    assert [part for run in cut for part in run] == big
    assert all(len(batch_bytes(run)) <= MAX_BATCH_BYTES for run in cut)
    assert len(cut) == 3


def read_or_refuse(data: bytes) -> None:
    """``read_audit_message`` gives records, as the batch or the record parser
    reads them byte for byte, or an AuditRecordError, never anything else."""
    try:
        records = read_audit_message(data)
    except Exception as exc:  # any other type is the failure under test
        assert_refusal(exc, AuditRecordError)
        return
    assert AuditBatch(records).to_bytes() == data or records[0].to_bytes() == data


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_mutated_batches_are_read_or_refused_with_an_audit_record_error(
    data: st.DataObject,
) -> None:
    valid = st.lists(audit_records(), min_size=1, max_size=4).map(
        lambda rs: AuditBatch(tuple(rs)).to_bytes()
    )
    mutated = data.draw(garbage(valid))
    assert_parses_or_refuses(AuditBatch.from_bytes, AuditRecordError, mutated)
    read_or_refuse(mutated)


@settings(max_examples=100)
@given(st.binary())
def test_arbitrary_bytes_are_read_or_refused(data: bytes) -> None:
    read_or_refuse(data)


def test_depth_limits_are_those_of_a_record_inside_its_batch() -> None:
    record = audit_record(0).to_dict()  # a denial: record > reasons > reason
    assert MAX_DEPTH == 3
    batch = canonical_json({"records": [record]})
    assert json.loads(batch)["records"][0] == record
    assert read_audit_message(batch)[0].reasons


def test_a_sequenced_record_is_the_record_with_its_position() -> None:
    record = audit_record(1)
    placed = record.sequenced(7)
    assert AuditRecord.from_bytes(placed.to_bytes(), sequenced=True) == placed
    assert placed.seq == 7 and placed.decision_id == record.decision_id
    for wrong in (-1, True, "7"):
        with pytest.raises(AuditRecordError):
            record.sequenced(wrong)  # type: ignore[arg-type]


@settings(max_examples=30, deadline=None, suppress_health_check=SLOW)
@given(st.lists(audit_records(), min_size=1, max_size=6))
def test_each_record_read_from_a_batch_is_encoded_as_it_would_be_anew(
    records: list[AuditRecord],
) -> None:
    """A record read from a batch keeps the bytes it was read as, which are
    exactly the canonical JSON of the record it became."""
    for record in AuditBatch.from_bytes(AuditBatch(tuple(records)).to_bytes()).records:
        assert record.to_bytes() == canonical_json(record.to_dict())


def test_a_record_from_before_scoped_ids_in_a_batch_is_encoded_with_its_keys() -> None:
    old = audit_record(0).to_dict()  # a denial, with no shared ids
    for key in ("supersedes", "retracts", "shared_ids"):
        del old[key]
    (record,) = read_audit_message(canonical_json({"records": [old]}))
    assert record.to_bytes() == canonical_json(record.to_dict())
    assert b'"shared_ids":null' in record.to_bytes()


def one_event(count: int) -> list[dict[str, object]]:
    """The records of ``count`` decisions on one event, as JSON objects: the
    values of BASE_KEYS are the first's."""
    first = audit_record(1).to_dict()
    records = []
    for n in range(count):
        record = audit_record(1 + 3 * n).to_dict()
        record.update({key: first[key] for key in BASE_KEYS})
        records.append(record)
    return records


def test_the_values_one_event_shares_are_checked_once_and_hold_for_every_record() -> None:
    records = one_event(3)
    assert (
        read_audit_message(canonical_json({"records": records}))[2].event_id
        == (records[0]["event_id"])
    )


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("source_partition", True, "wrong_type"),  # True == 1 in Python, but not an integer
        ("source_offset", 1.0, "wrong_type"),
        ("decided_at", "2026-02-30T00:00:00Z", "bad_value"),
        ("source_topic", None, "wrong_type"),
    ],
)
def test_a_later_record_unlike_the_first_in_what_the_event_says_is_checked_again(
    key: str, value: object, code: str
) -> None:
    """The event's values are checked once only while they are the very values
    (and types) of a record checked before; otherwise they are checked again."""
    records = one_event(3)
    for record in records:
        record.update(source_partition=1, source_offset=1)
    records[2][key] = value
    error = refusal(canonical_json({"records": records}))
    assert (error.field, error.code) == (f"records[2].{key}", code)
