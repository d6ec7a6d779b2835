"""Hand-written valid records, for tests that need one concrete event."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from wire.envelope import event_id
from wire.linkage import fingerprint

WHEN = datetime(2026, 11, 6, 23, 40, tzinfo=UTC)

#: The samples' partnership linkage key (made up, never a real one), its
#: version and its fingerprint, which the sample envelopes carry.
LINKAGE_KEY = bytes.fromhex("5a" * 32)
LINKAGE_KEY_VERSION = "2026-1"
LINKAGE_FINGERPRINT = fingerprint(LINKAGE_KEY)


def envelope(
    authority: str = "wmp", key: str = "crime-0001", version: int = 1, **overrides: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "event_id": uuid.UUID(event_id(authority, key, version)),
        "event_type": "INCIDENT",
        "schema_fingerprint": "",
        "source_authority": authority,
        "source_authority_type": "POLICE",
        "source_system": "synthetic crime extract",
        "occurred_at": WHEN,
        "recorded_at": WHEN,
        "published_at": WHEN,
        "supersedes": None,
        "pseudonym_key_version": LINKAGE_KEY_VERSION,
        "linkage_key_fingerprint": LINKAGE_FINGERPRINT,
        "signing_key_id": "",
    }
    return {**values, **overrides}


def incident(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "envelope": envelope(),
        "incident_pseudo_id": "p-3c1f9a",
        "subject_pseudo_id": "s-77aa01",
        "incident_source": "POLICE_CRIME",
        "assault_datetime": WHEN,
        "arrival_datetime": None,
        "assault_method": "KNIFE_SHARP",
        "location_type": "PUBLIC_PLACE",
        "offence_code_ho": "8N",
        "offence_group": "VIOLENCE_WITH_INJURY",
        "knife_flag": True,
        "firearm_flag": False,
        "domestic_abuse_flag": False,
        "sexual_offence_flag": False,
        "ambulance_call_category": None,
        "conveyed_to_hospital": None,
        "victim_age_band": "AGE_18_24",
        "victim_sex": "MALE",
        "suspect_age_band": None,
        "suspect_sex": None,
        "ethnicity_group": None,
        "injury_severity": None,
        "alcohol_drug_involved": "UNKNOWN",
        "geo": {
            "lsoa21cd": "E01009001",
            "msoa21cd": "E02001001",
            "lad_cd": "E08000025",
            "ward_cd": None,
            "lsoa11cd": None,
        },
        "injury_intent": None,
        "occurred_precision": None,
        "police_outcome": None,
    }
    return {**values, **overrides}


def outcome(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "envelope": envelope(
            "yos-birmingham", "outcome-17", event_type="OUTCOME", source_authority_type="YOS"
        ),
        "outcome_pseudo_id": "o-1",
        "referral_pseudo_id": "r-1",
        "subject_pseudo_id": "s-1",
        "outcome_type": "ENGAGED",
        "outcome_date": date(2026, 11, 20),
        "intervention_type": "MENTORING",
        "sessions_offered": 6,
        "sessions_attended": 4,
        "measure_code": None,
        "measure_score": None,
        "follow_up_days": 30,
        "exit_reason": "NOT_EXITED",
    }
    return {**values, **overrides}
