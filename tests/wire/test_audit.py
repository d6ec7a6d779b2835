"""AuditRecord and Reason: what the constructors accept, the parser reads back."""

import pytest

from tests.fixtures.records import audit_record
from wire.audit import MAX_MESSAGE, MAX_REASONS, AuditRecord, AuditRecordError, Reason


def test_the_constructor_refuses_a_record_over_max_bytes() -> None:
    """Sixteen reasons of the longest message fit only if they need no escapes."""
    loud = tuple(Reason("c", "\x01" * MAX_MESSAGE) for _ in range(MAX_REASONS))
    with pytest.raises(AuditRecordError) as caught:
        audit_record(0, reasons=loud)
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
