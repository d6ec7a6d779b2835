"""Mapper: each transform, and a clear RowError for each way a row can be wrong."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import ConfigError, ConnectorConfig
from edge.mapping import Mapper, RowError, age_band
from edge.pseudonymise import Pseudonymiser
from wire import schemas
from wire.codec import AvroCodec
from wire.envelope import EventReader, EventWriter, event_id, retraction_id
from wire.geography import GeographyLookup
from wire.linkage import fingerprint
from wire.signing import KeyRegistry, Verifier, generate_signer

CONFIGS = Path(__file__).parents[2] / "connectors" / "config"
LOOKUP = GeographyLookup.synthetic_sample()
LSOA = LOOKUP.lsoas("E08000025")[0]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser(bytes(range(32)), "test-1")


def mapper(name: str = "wmp-crime") -> Mapper:
    return Mapper(ConnectorConfig.load(CONFIGS / f"{name}.yaml"), schemas.current(), PSEUDO, LOOKUP)


def crime(**cells: str) -> dict[str, str]:
    row = {
        "CrimeReference": "CR-2026-0000001",
        "RecordVersion": "1",
        "Status": "Active",
        "RecordedDateTime": "07/10/2026 02:10",
        "CommittedDateTime": "06/10/2026 23:45",
        "HOOffenceCode": "8N",
        "OffenceGroup": "Violence with injury",
        "WeaponType": "Knife or sharp instrument",
        "DomesticAbuseFlag": "N",
        "VictimForename": "Jane",
        "VictimSurname": "Doe",
        "VictimDOB": "06/05/2004",
        "VictimSex": "F",
        "VictimEthnicity": "W",
        "SuspectAge": "",
        "SuspectSex": "",
        "LSOA21": LSOA,
        "LocationType": "Street",
        "MOText": "Victim punched outside a takeaway",
    }
    row.update(cells)
    return row


def referral(**cells: str) -> dict[str, str]:
    """A row of the youth service's referrals table, as its SQL query gives it."""
    row = {
        "referral_id": "REF-1",
        "child_forename": "Sam",
        "child_surname": "Lee",
        "date_of_birth": "2010-03-04",
        "referral_date": "2026-10-02 10:00:00",
        "referrer": "ED navigator",
        "programme": "NAV-ED",
        "reasons": "Knife carrying;Violence victim",
        "looked_after": "0",
        "send": "1",
        "excluded": "0",
        "consent": "given",
        "risk": "high",
        "home_lsoa21": LSOA,
        "linked_attendance_id": "UHB-000123",
        "updated_at": "2026-10-02 10:00:00",
        "notes": "free text",
    }
    row.update(cells)
    return row


def test_a_police_row_maps_to_an_incident() -> None:
    mapped = mapper().map(crime(), NOW)
    record: dict[str, Any] = mapped.record
    assert record["assault_method"] == "KNIFE_SHARP"
    assert record["knife_flag"] is True
    assert record["firearm_flag"] is False
    assert record["domestic_abuse_flag"] is False
    assert record["victim_age_band"] == "AGE_18_24"  # 22 on 6 October 2026
    assert record["victim_sex"] == "FEMALE"
    assert record["ethnicity_group"] == "WHITE"
    assert record["suspect_age_band"] is None
    assert record["location_type"] == "PUBLIC_PLACE"
    area = LOOKUP.area(LSOA)
    assert record["geo"] == {
        "lsoa21cd": LSOA,
        "msoa21cd": area.msoa21cd,
        "lad_cd": "E08000025",
        "ward_cd": None,
        "lsoa11cd": None,
    }
    # 23:45 BST on 6 October is 22:45 UTC.
    assert record["assault_datetime"] == datetime(2026, 10, 6, 22, 45, tzinfo=UTC)
    assert record["envelope"]["occurred_at"] == record["assault_datetime"]
    assert record["envelope"]["supersedes"] is None
    assert mapped.message_key == record["subject_pseudo_id"]


def test_the_envelope_names_the_linkage_key_by_version_and_fingerprint() -> None:
    envelope = mapper().map(crime(), NOW).record["envelope"]
    assert envelope["pseudonym_key_version"] == "test-1"
    assert envelope["linkage_key_fingerprint"] == fingerprint(bytes(range(32)))


def test_identifiers_and_free_text_are_left_behind() -> None:
    text = repr(mapper().map(crime(), NOW).record)
    for secret in ("Jane", "Doe", "06/05/2004", "2004", "takeaway", "CR-2026"):
        assert secret not in text


def test_a_corrected_record_supersedes_its_previous_version() -> None:
    m = mapper()
    first, second = m.map(crime(), NOW), m.map(crime(RecordVersion="2"), NOW)
    assert second.event_id != first.event_id
    assert second.record["envelope"]["supersedes"] == first.event_id
    assert second.record["incident_pseudo_id"] == first.record["incident_pseudo_id"]


def test_the_same_row_always_gets_the_same_event_id() -> None:
    assert mapper().map(crime(), NOW).event_id == mapper().map(crime(), NOW).event_id


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ({"CommittedDateTime": "32/13/2026 25:00"}, "occurred_at", "not a date in the format"),
        ({"CommittedDateTime": ""}, "occurred_at", "is blank and the field is required"),
        ({"OffenceGroup": "Shoplifting"}, "offence_group", "'Shoplifting' is not one of"),
        ({"HOOffenceCode": '=HYPERLINK("x")'}, "offence_code_ho", "spreadsheet formula"),
        ({"HOOffenceCode": "8" * 500}, "offence_code_ho", "characters long; the limit is 4"),
        ({"HOOffenceCode": "X8"}, "offence_code_ho", "does not match"),
        ({"LSOA21": "E01999999"}, "geo", "not in the geography lookup"),
        ({"LSOA21": ""}, "geo", "(LSOA) is blank"),
        ({"SuspectAge": "twenty"}, "suspect_age_band", "is not a whole number"),
        ({"VictimDOB": "31/02/2004"}, "victim_age_band", "not a date in the format %d/%m/%Y"),
        ({"RecordVersion": "0"}, "record_version", "must be 1 or more"),
        ({"CrimeReference": " "}, "record_key", "is blank"),
    ],
)
def test_bad_cells_name_the_field_and_the_reason(
    cells: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(RowError) as caught:
        mapper().map(crime(**cells), NOW)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_age_bands() -> None:
    assert [age_band(a) for a in (0, 9, 10, 17, 18, 24, 25, 64, 65, 101)] == [
        "AGE_0_9",
        "AGE_0_9",
        "AGE_10_17",
        "AGE_10_17",
        "AGE_18_24",
        "AGE_18_24",
        "AGE_25_34",
        "AGE_55_64",
        "AGE_65_PLUS",
        "AGE_65_PLUS",
    ]
    with pytest.raises(ValueError, match="out of range"):
        age_band(-1)


def test_lists_and_cross_authority_references() -> None:
    m = mapper("bcc-youth-referrals")
    row = referral()
    record = m.map(row, NOW).record
    assert record["reason_codes"] == ["WEAPON_CARRYING", "VIOLENCE_VICTIM"]
    assert record["send_flag"] is True
    assert record["age_band"] == "AGE_10_17"
    # The ED attendance is pseudonymised in the trust's namespace, so it links.
    assert record["linked_incident_pseudo_id"] == PSEUDO.record("uhb-ed", "UHB-000123")
    bad = m.map({**row, "linked_attendance_id": "XYZ-1"}, NOW).record
    assert bad["linked_incident_pseudo_id"] is None  # optional: an unknown prefix is left out


def test_dates_and_numbers() -> None:
    m = mapper("yos-birmingham-outcomes")
    row = {
        "OutcomeID": "OUT-1",
        "ReferralID": "REF-1",
        "ChildForename": "Sam",
        "ChildSurname": "Lee",
        "DOB": "04/03/2010",
        "OutcomeDate": "20/11/2026",
        "OutcomeType": "Engaged",
        "Intervention": "Mentoring",
        "SessionsOffered": "6",
        "SessionsAttended": "4",
        "MeasureCode": "SDQ",
        "MeasureScore": "17",
        "FollowUpDays": "30",
        "ExitReason": "Not exited",
        "WorkerNotes": "x",
    }
    record = m.map(row, NOW).record
    assert record["outcome_date"] == date(2026, 11, 20)
    assert record["measure_score"] == 17.0
    assert record["referral_pseudo_id"] == PSEUDO.record("bcc-youth", "REF-1")
    with pytest.raises(RowError, match="sessions_offered: 'six' is not a whole number"):
        m.map({**row, "SessionsOffered": "six"}, NOW)


def test_a_config_must_fill_every_required_field(tmp_path: Path) -> None:
    raw = yaml.safe_load((CONFIGS / "wmas-callouts.yaml").read_text(encoding="utf-8"))
    del raw["fields"]["victim_sex"]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="Incident needs victim_sex"):
        Mapper(ConnectorConfig.load(path), schemas.current(), PSEUDO, LOOKUP)


# -- corrections and retractions ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"), [("Deleted", "ENTERED_IN_ERROR"), ("Duplicate", "DUPLICATE")]
)
def test_a_withdrawn_row_retracts_the_version_it_names(status: str, reason: str) -> None:
    m = mapper()
    published = m.map(crime(RecordVersion="2"), NOW)
    withdrawn = m.map(
        crime(RecordVersion="2", Status=status, RecordedDateTime="09/10/2026 10:00"), NOW
    )
    assert withdrawn.record_type == "Retraction"
    assert withdrawn.record["retracted_event_id"] == published.event_id
    assert withdrawn.record["reason"] == reason
    record_key = PSEUDO.record("wmp", "CR-2026-0000001")
    assert withdrawn.event_id == retraction_id("wmp", record_key, 2)
    assert withdrawn.event_id != published.event_id
    assert withdrawn.message_key == withdrawn.event_id  # never a raw reference
    envelope = withdrawn.record["envelope"]
    assert envelope["event_id"] == withdrawn.event_id
    assert (envelope["source_authority"], envelope["source_authority_type"]) == ("wmp", "POLICE")
    assert envelope["supersedes"] is None
    assert envelope["pseudonym_key_version"] is None
    # A withdrawal happens when it is recorded: 10:00 BST is 09:00 UTC.
    assert (
        envelope["occurred_at"]
        == envelope["recorded_at"]
        == datetime(2026, 10, 9, 9, 0, tzinfo=UTC)
    )
    assert set(withdrawn.record) == {"envelope", "retracted_event_id", "reason"}
    for secret in ("Jane", "Doe", "CR-2026", "takeaway"):
        assert secret not in repr(withdrawn.record)


def test_the_same_withdrawal_always_gets_the_same_retraction_id() -> None:
    row = crime(Status="Deleted")
    assert mapper().map(row, NOW).event_id == mapper().map(row, NOW).event_id
    other_version = mapper().map(crime(Status="Deleted", RecordVersion="2"), NOW)
    assert other_version.event_id != mapper().map(row, NOW).event_id
    assert retraction_id("wmp", "k", 1) not in {event_id("wmp", "k", v) for v in range(1, 5)}


def test_a_current_or_blank_status_publishes_the_record() -> None:
    assert mapper().map(crime(Status="Active"), NOW).record_type == "Incident"
    assert mapper().map(crime(Status=""), NOW).record_type == "Incident"


def test_an_unknown_status_rejects_the_row_naming_the_column_and_value() -> None:
    with pytest.raises(RowError) as caught:
        mapper().map(crime(Status="Archived"), NOW)
    assert caught.value.field == "withdrawn"
    assert "column 'Status'" in caught.value.reason
    assert "'Archived' is not one of 'Deleted', 'Duplicate', 'Active'" in caught.value.reason


def test_a_withdrawn_row_needs_only_its_key_version_and_time() -> None:
    """Other cells of a withdrawn row are not read: a row withdrawn because it
    was wrong may well hold a bad value."""
    row = crime(Status="Deleted", OffenceGroup="Shoplifting", LSOA21="", CommittedDateTime="")
    assert mapper().map(row, NOW).record_type == "Retraction"
    with pytest.raises(RowError) as caught:
        mapper().map(crime(Status="Deleted", RecordVersion="x"), NOW)
    assert caught.value.field == "record_version"
    with pytest.raises(RowError) as caught:
        mapper().map(crime(Status="Deleted", CrimeReference=""), NOW)
    assert caught.value.field == "record_key"


def test_a_retraction_encodes_signs_and_verifies() -> None:
    current = schemas.current()
    codec = AvroCodec(current, schemas.released().values())
    signer = generate_signer("wmp-test-1", "wmp")
    value = EventWriter(codec, signer).write(
        "Retraction", mapper().map(crime(Status="Duplicate"), NOW).record
    )
    event = EventReader(codec, Verifier(KeyRegistry([signer.public_key()]))).read(
        value, authority="wmp"
    )
    assert event.record_type == "Retraction"
    assert event.envelope["event_type"] == "RETRACTION"
    assert event.record["reason"] == "DUPLICATE"


def deleted_row(**cells: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "referral_id": "REF-1",
        "deleted_at": "2026-10-18 21:40:08",
        "reason": "consent withdrawn",
    }
    row.update(cells)
    return row


def test_a_deleted_row_retracts_the_record_it_names() -> None:
    m = mapper("bcc-youth-referrals")
    mapped = m.deleted(deleted_row(), NOW)
    record_key = PSEUDO.record("bcc-youth", "REF-1")
    assert mapped.record_type == "Retraction"
    # No record_version in this config: every referral is version 1.
    assert mapped.record["retracted_event_id"] == event_id("bcc-youth", record_key, 1)
    assert mapped.event_id == retraction_id("bcc-youth", record_key, 1)
    assert mapped.record["reason"] == "CONSENT_WITHDRAWN"
    envelope = mapped.record["envelope"]
    assert envelope["recorded_at"] == datetime(2026, 10, 18, 20, 40, 8, tzinfo=UTC)
    assert m.deleted(deleted_row(reason=None), NOW).record["reason"] == "UNKNOWN"
    assert m.deleted_columns() == {"referral_id", "deleted_at", "reason"}


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ({"reason": "moved away"}, "reason", "column 'reason': value 'moved away' is not one of"),
        ({"referral_id": ""}, "record_key", "is blank"),
        ({"deleted_at": "yesterday"}, "recorded_at", "not a date in the format"),
    ],
)
def test_bad_deleted_rows_name_the_field_and_the_reason(
    cells: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(RowError) as caught:
        mapper("bcc-youth-referrals").deleted(deleted_row(**cells), NOW)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_deleted_rows_without_a_reason_column_or_a_time(tmp_path: Path) -> None:
    raw = yaml.safe_load((CONFIGS / "bcc-youth-referrals.yaml").read_text(encoding="utf-8"))
    deleted = raw["source"]["sql"]["deleted_rows"]
    deleted["reason"] = {"const": "OUT_OF_SCOPE"}
    del deleted["recorded_at"]
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    m = Mapper(ConnectorConfig.load(path), schemas.current(), PSEUDO, LOOKUP)
    mapped = m.deleted({"referral_id": "REF-1", "deleted_at": "whenever"}, NOW)
    assert mapped.record["reason"] == "OUT_OF_SCOPE"
    assert mapped.record["envelope"]["recorded_at"] == NOW  # the time it was published
