"""Shared pieces for enforcer tests: authorities' keys, sample events, topic readers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer

from hub.enforcer.linkage import LinkageCheck
from hub.linkage import LINKAGE_FILE, LinkageRegistry
from tests.fixtures.kafka import read_all
from tests.wire import samples
from wire import schemas
from wire.audit import AuditRecord, AuditRecordError, read_audit_message
from wire.codec import AvroCodec
from wire.envelope import EventWriter, event_id
from wire.hub_signing import SIGNATURE_HEADER
from wire.kafka_client import ClientSettings
from wire.signing import KeyRegistry, Signer, generate_signer

CODEC = AvroCodec(schemas.current(), schemas.released().values())

#: The sample authorities and their authority types.
AUTHORITIES = {
    "wmp": "POLICE",
    "uhb-ed": "ICB_ED",
    "swbh-ed": "ICB_ED",
    "wmas": "AMBULANCE",
    "bcc-youth": "LA",
    "yos-birmingham": "YOS",
}

#: Birmingham and Coventry, with one LSOA each from the synthetic lookup.
BIRMINGHAM = {"lsoa21cd": "E01900001", "msoa21cd": None, "lad_cd": "E08000025", "ward_cd": None}

#: A decision input as the enforcer builds it: a police incident in Birmingham.
DECISION_INPUT = {
    "event": {
        "authority": "wmp",
        "event_type": "INCIDENT",
        "record_type": "Incident",
        "lad_cd": "E08000025",
        "domestic_abuse": False,
        "sexual_offence": False,
        "offence_group": "VIOLENCE_WITH_INJURY",
        "location_type": "PUBLIC_PLACE",
    },
    "today": "2026-11-28",
}
COVENTRY = {"lsoa21cd": None, "msoa21cd": None, "lad_cd": "E08000026", "ward_cd": None}

POLICIES = Path(__file__).resolve().parents[3] / "policies"


def agreement_fields() -> dict[str, set[str]]:
    """Every agreement's id -> the fields it names with an action other than drop."""
    named = {}
    for path in sorted((POLICIES / "agreements").glob("*.yaml")):
        agreement = yaml.safe_load(path.read_text(encoding="utf-8"))
        named[agreement["id"]] = {
            name for name, action in agreement["fields"].items() if action != "drop"
        }
    return named


@dataclass
class Keys:
    """A signing key per sample authority, and the registry the hub reads; and
    the samples' linkage key fingerprint registered with the hub
    (``keys/linkage.yaml``), as ``svdhub linkage register`` writes it."""

    home: Path
    signers: dict[str, Signer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signers = {a: generate_signer(f"{a}-test-1", a) for a in AUTHORITIES}
        registry = self.home / "keys" / "registry.yaml"
        registry.parent.mkdir(parents=True, exist_ok=True)
        keys = [signer.public_key() for signer in self.signers.values()]
        registry.write_text(KeyRegistry(keys).to_yaml(), encoding="utf-8")
        LinkageRegistry().register(
            samples.LINKAGE_KEY_VERSION, samples.LINKAGE_FINGERPRINT, "2026-11-01T00:00:00Z"
        ).save(self.linkage_file)

    def registry(self) -> KeyRegistry:
        return KeyRegistry.load(self.home / "keys" / "registry.yaml")

    @property
    def linkage_file(self) -> Path:
        return self.home / LINKAGE_FILE

    def linkage(self) -> LinkageCheck:
        """The enforcer's linkage-key check over this hub's registered fingerprints."""
        return LinkageCheck(self.linkage_file)

    def writer(self, authority: str) -> EventWriter:
        return EventWriter(CODEC, self.signers[authority])


def incident(
    authority: str = "wmp",
    n: int = 1,
    geo: dict[str, Any] | None = None,
    when: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid Incident from ``authority``; ``n`` makes the record key unique."""
    key = f"{authority}-incident-{n}"
    moment = when or samples.WHEN - timedelta(minutes=n)
    envelope = samples.envelope(
        authority,
        key,
        source_authority_type=AUTHORITIES[authority],
        occurred_at=moment,
        recorded_at=moment,
    )
    return samples.incident(
        envelope=envelope,
        incident_pseudo_id=f"p-{authority}-{n}",
        subject_pseudo_id=f"s-{authority}-{n}",
        assault_datetime=moment,
        geo=dict(geo or BIRMINGHAM),
        **overrides,
    )


def retraction(authority: str, retracted: str, n: int = 1) -> dict[str, Any]:
    envelope = samples.envelope(
        authority,
        f"{authority}-retraction-{n}",
        event_type="RETRACTION",
        source_authority_type=AUTHORITIES[authority],
    )
    return {
        "envelope": envelope,
        "retracted_event_id": uuid.UUID(retracted),
        "reason": "ENTERED_IN_ERROR",
    }


def referral(n: int = 1, authority: str = "bcc-youth") -> dict[str, Any]:
    envelope = samples.envelope(
        authority,
        f"{authority}-referral-{n}",
        event_type="REFERRAL",
        source_authority_type=AUTHORITIES[authority],
    )
    return {
        "envelope": envelope,
        "referral_pseudo_id": f"r-{n}",
        "subject_pseudo_id": f"s-youth-{n}",
        "referral_datetime": samples.WHEN,
        "referrer_type": "SCHOOL",
        "programme_code": "VRP-MENTOR",
        "reason_codes": ["WEAPON_CARRYING"],
        "age_band": "AGE_10_17",
        "sex": "MALE",
        "ethnicity_group": None,
        "home_geo": dict(BIRMINGHAM),
        "looked_after_flag": None,
        "send_flag": None,
        "excluded_flag": None,
        "consent_status": "GIVEN",
        "risk_level": "MEDIUM",
        "linked_incident_pseudo_id": None,
    }


def the_event_id(authority: str, key: str, version: int = 1) -> str:
    return event_id(authority, key, version)


def topics_with_prefix(kafka: ClientSettings, prefix: str) -> list[str]:
    consumer = KafkaConsumer(**kafka.kafka_python())
    try:
        return sorted(t for t in consumer.topics() if t.startswith(prefix))
    finally:
        consumer.close()


def audit_records(kafka: ClientSettings, topic: str) -> list[AuditRecord]:
    """Every audit record on ``topic``, in batches or one per message."""
    return [r for m in read_all(kafka, [topic]) for r in read_audit_message(m.value)]


def readable_audit_records(kafka: ClientSettings, topic: str) -> list[AuditRecord]:
    """The audit records on ``topic``, leaving out messages that hold none (a
    test that writes malformed messages to it, as anyone able to could)."""
    return [r for m in read_all(kafka, [topic]) for r in readable_records(m)]


def readable_records(message: Any) -> tuple[AuditRecord, ...]:
    """The audit records in one consumed message; none if it is not readable."""
    try:
        return read_audit_message(message.value)
    except AuditRecordError:
        return ()


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, every: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def headers(message: Any) -> dict[str, str]:
    """The text headers of a consumed message (the hub's signature is binary: left out)."""
    return {
        name: value.decode() for name, value in message.headers or () if name != SIGNATURE_HEADER
    }


def now() -> datetime:
    return datetime.now(UTC)
