"""The mapper's fast paths give what the plain ones give, byte for byte.

Dates are parsed by :func:`edge.dates.parser` (remembered per format) instead
of ``datetime.strptime``, pseudonyms come from a copied keyed HMAC instead of a
new one per identifier, event ids are computed without ``uuid``, and Kafka's
partition of a key four bytes at a time. Each is
compared here with the plain computation, alone and through the whole mapper
and writer, on tricky input: formats, time zones, the hours around a change
of clocks, and dates that must still be refused with the same error.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from kafka.partitioner.default import murmur2

import edge.mapping
from edge.config import ConnectorConfig
from edge.dates import parser
from edge.mapping import Mapped, Mapper, RowError
from edge.pseudonymise import Pseudonymiser
from edge.publisher import murmur2_words
from edge.runner import Connector
from tests.edge.helpers import CONFIGS, prepare
from wire import schemas
from wire.codec import AvroCodec
from wire.envelope import EVENT_NAMESPACE, EventWriter, event_id, retraction_id
from wire.geography import GeographyLookup
from wire.signing import generate_signer

LOOKUP = GeographyLookup.synthetic_sample()
LSOA = LOOKUP.lsoas("E08000025")[0]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = bytes(range(32))

FORMATS = [
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y%m%d%H%M",
    "%d.%m.%Y %H.%M",
    "%m/%d/%Y  %H:%M",  # whitespace in a format matches any run of whitespace
    "%Y-%m-%d %H:%M %%",
    "x%Y(%m)[%d]|",  # characters that mean something in a regular expression
    "%d %b %Y %H:%M",  # a month name: left to strptime
    "%d/%m %H:%M",  # no year: left to strptime (it defaults to 1900)
    "%Y-%m-%d %H:%M:%S.%f",  # fractions: left to strptime
]

TRICKY = [
    "29/02/2024 00:00",
    "29/02/2023 00:00",
    "31/04/2026 12:00",
    "00/01/2026 12:00",
    "1/1/2026 1:5",
    " 1/01/2026 00:00",
    "01/01/0000 00:00",
    "31/12/9999 23:59",
    "01/01/2026 24:00",
    "01/01/2026 23:60",
    "2026-01-01 00:00:60",
    "2026-01-01 00:00:61",
    "2026-1-1 0:0:0",
    "2026-01-01T10:00:00",
    "2026-01-01t10:00:00",
    "2026-01-01 10:00:00Z",
    "2026-01-01 10:00:00+01:00",
    "20260101",
    "202601011030",
    "01.02.2026 03.04",
    "02/29/2024   23:59",
    "02/29/2024\t23:59",
    "2026-01-01 10:00 %",
    "x2026(01)[31]|",
    "X2026(1)[1]|",
    "01 Mar 2026 10:00",
    "29/02 10:00",
    "2026-01-01 10:00:00.5",
    "\u0662\u0660\u0662\u0666-01-01",  # Arabic-Indic digits: strptime reads them
    "\uff12\uff10\uff12\uff16-01-01",  # full-width digits
    "",
    "   ",
    "yesterday",
    "2026-13-01",
    "2026-00-10",
]


def plain_strptime(text: str, fmt: str) -> datetime | str:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return "refused"


def fast(text: str, fmt: str) -> datetime | str:
    try:
        return parser(fmt)(text)
    except ValueError:
        return "refused"


def mutations(fmt: str, count: int, seed: int) -> Iterator[str]:
    """Text in ``fmt`` with a few characters changed, added or removed."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    alphabet = "0123456789/-: T.%x()[]|\t\u0661"
    for _ in range(count):
        moment = datetime(
            rnd.randint(1, 9999),
            rnd.randint(1, 12),
            rnd.randint(1, 28),
            rnd.randint(0, 23),
            rnd.randint(0, 59),
            rnd.randint(0, 59),
        )
        chars = list(moment.strftime(fmt))
        for _ in range(rnd.randint(0, 3)):
            at = rnd.randrange(len(chars) + 1)
            roll = rnd.random()
            if roll < 0.4 and chars:
                chars[min(at, len(chars) - 1)] = rnd.choice(alphabet)
            elif roll < 0.7:
                chars.insert(at, rnd.choice(alphabet))
            elif chars:
                del chars[min(at, len(chars) - 1)]
        yield "".join(chars)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dates_parse_and_are_refused_as_strptime_does(fmt: str) -> None:
    texts = [*TRICKY, *mutations(fmt, 3000, seed=len(fmt))]
    for text in texts:
        assert fast(text, fmt) == plain_strptime(text, fmt), (fmt, text)
    assert any(isinstance(plain_strptime(text, fmt), datetime) for text in texts)


def test_ids_are_the_wire_ids() -> None:
    pseudonymiser = Pseudonymiser(KEY, "test-1")
    for n in range(300):
        key = pseudonymiser.record("wmp", f"CR-{n}")
        for version in (1, 2, 17, 10**12):
            assert edge.mapping._event_id("wmp", key, version) == event_id("wmp", key, version)
            name = f"wmp\x1f{key}\x1fretraction\x1f{version}"
            assert edge.mapping._uuid5(name) == retraction_id("wmp", key, version)
    assert edge.mapping._uuid5("ü\u00a0名") == str(uuid.uuid5(EVENT_NAMESPACE, "ü\u00a0名"))


def test_pseudonyms_are_the_plain_hmac() -> None:
    pseudonymiser = Pseudonymiser(KEY, "test-1")
    for message in ("", "record\x1fwmp\x1fCR-1", "person\x1fJANE DOE\x1f2004-05-06", "ü名" * 40):
        plain = hmac.new(KEY, message.encode("utf-8"), hashlib.sha256).hexdigest()
        assert pseudonymiser._mac(message) == plain
        assert pseudonymiser._mac(message) == plain  # the copied state is never spent


def test_partitions_are_kafkas() -> None:
    rnd = random.Random(11)  # noqa: S311 - test data, not secrets
    keys = [rnd.randbytes(rnd.randrange(90)) for _ in range(5000)]
    keys += [b"", b"a", b"ab", b"abc", b"abcd", "ü名".encode(), b"\xff" * 67]
    for key in keys:
        assert murmur2_words(key) == murmur2(key), key


# -- through the mapper and the writer ---------------------------------------


def plain_mac(self: Pseudonymiser, message: str) -> str:
    return hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def plain_instant(text: str, fmt: str, zone: ZoneInfo) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=zone).astimezone(UTC)


def plain_uuid5(name: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, name))


def plain_event_id(authority: str, record_key: str, version: int) -> str:
    return event_id(authority, record_key, version)


def config(tmp_path: Path, timezone: str, when: str, dob: str) -> ConnectorConfig:
    """The police sample with another zone and other formats."""
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    raw["timezone"] = timezone
    raw["occurred_at"]["datetime"] = when
    raw["recorded_at"]["datetime"] = when
    raw["fields"]["assault_datetime"]["datetime"] = when
    raw["fields"]["victim_age_band"]["age_band"]["dob_format"] = dob
    raw["pseudonyms"]["subject_pseudo_id"]["person"]["dob_format"] = dob
    path = tmp_path / f"wmp-{timezone.replace('/', '-')}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return ConnectorConfig.load(path)


def crime(when: str, dob: str, **cells: str) -> dict[str, str]:
    row = {
        "CrimeReference": "CR-2026-0000001",
        "RecordVersion": "2",
        "Status": "Active",
        "RecordedDateTime": when,
        "CommittedDateTime": when,
        "HOOffenceCode": "8N",
        "OffenceGroup": "Violence with injury",
        "WeaponType": "Knife or sharp instrument",
        "DomesticAbuseFlag": "N",
        "VictimForename": "Zoë",
        "VictimSurname": "O'Brien-Smith",
        "VictimDOB": dob,
        "VictimSex": "F",
        "VictimEthnicity": "W",
        "SuspectAge": "31",
        "SuspectSex": "M",
        "LSOA21": LSOA,
        "LocationType": "Street",
        "MOText": "free text",
    }
    row.update(cells)
    return row


ZONES = {
    # zone: local times around its changes of clocks in 2026 (skipped, repeated)
    "Europe/London": ["2026-03-29 00:59", "2026-03-29 01:30", "2026-10-25 01:30"],
    "America/New_York": ["2026-03-08 02:30", "2026-11-01 01:30", "2026-11-01 02:00"],
    "Australia/Lord_Howe": ["2026-04-05 01:45", "2026-10-04 02:15"],  # half-hour changes
    "Asia/Kolkata": ["2026-06-01 05:29"],
    "UTC": ["2026-06-01 00:00"],
}


def rows_for(when_fmt: str, dob_fmt: str, zone: str) -> Iterator[dict[str, str]]:
    def show(text: str, fmt: str) -> str:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").strftime(fmt)

    dob = show("2004-02-29 00:00", dob_fmt)
    for local in [*ZONES[zone], "2026-12-31 23:59", "2026-01-01 00:00"]:
        when = show(local, when_fmt)
        yield crime(when, dob)
        yield crime(when, dob, Status="Deleted")  # a Retraction
        yield crime(when, show("2026-01-01 00:00", dob_fmt), RecordVersion="1")
    for bad in ["31/02/2026 10:00", "2026-02-30 10:00", "29/02/2025", "24:00", "x", "٢"]:
        yield crime(bad, dob)
        yield crime(show("2026-06-01 12:00", when_fmt), bad)
        yield crime(show("2026-06-01 12:00", when_fmt), dob, RecordedDateTime=bad)


def outcome(mapper: Mapper, writer: EventWriter, row: dict[str, str]) -> Any:
    try:
        mapped: Mapped = mapper.map(row, NOW)
    except RowError as exc:
        return ("refused", exc.field, exc.reason)
    value = writer.write(mapped.record_type, mapped.record)
    return (mapped.record, mapped.event_id, mapped.message_key, mapped.record_type, value)


@pytest.mark.parametrize("zone", sorted(ZONES))
@pytest.mark.parametrize(
    ("when_fmt", "dob_fmt"),
    [
        ("%d/%m/%Y %H:%M", "%d/%m/%Y"),
        ("%Y-%m-%dT%H:%M:%S", "%Y%m%d"),
        ("%d %b %Y %H:%M", "%Y-%m-%d"),  # strptime's own path
    ],
)
def test_the_mapper_gives_the_same_records_and_bytes_as_the_plain_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str, when_fmt: str, dob_fmt: str
) -> None:
    current = schemas.current()
    writer = EventWriter(
        AvroCodec(current, schemas.released().values()), generate_signer("wmp-test-1", "wmp")
    )
    mapper = Mapper(
        config(tmp_path, zone, when_fmt, dob_fmt), current, Pseudonymiser(KEY, "test-1"), LOOKUP
    )
    rows = list(rows_for(when_fmt, dob_fmt, zone))
    fast_out = [outcome(mapper, writer, row) for row in rows]
    with monkeypatch.context() as plain:
        plain.setattr(edge.mapping, "_parse", datetime.strptime)
        plain.setattr(edge.mapping, "_instant", plain_instant)
        plain.setattr(edge.mapping, "_uuid5", plain_uuid5)
        plain.setattr(edge.mapping, "_event_id", plain_event_id)
        plain.setattr(Pseudonymiser, "_mac", plain_mac)
        plain_out = [outcome(mapper, writer, row) for row in rows]
    assert fast_out == plain_out
    assert any(out[0] == "refused" for out in fast_out)
    assert any(out[0] != "refused" for out in fast_out)


def test_a_bad_date_is_rejected_naming_the_file_row_field_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "hub"))
    monkeypatch.setenv("SVDHUB_AUTHORITIES", str(tmp_path / "authorities"))
    monkeypatch.delenv("SVDHUB_AUTHORITY_HOME", raising=False)
    good = crime("06/10/2026 23:45", "06/05/2004")
    rows = [
        good,
        {**good, "CrimeReference": "CR-2", "CommittedDateTime": "31/02/2026 10:00"},
        {**good, "CrimeReference": "CR-3", "VictimDOB": "29/02/2025"},
        {**good, "CrimeReference": "CR-4", "RecordedDateTime": "07/10/2026 24:00"},
    ]
    source = tmp_path / "crime.csv"
    lines = [",".join(good), *(",".join(row.values()) for row in rows)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    setup = prepare(tmp_path, "wmp-crime", source=source)
    said: list[str] = []
    connector = Connector(setup.config, None, dry_run=True, echo=said.append)
    try:
        summary = connector.run()
    finally:
        connector.close()
    assert summary.published == 1
    assert [line for line in said if line.startswith("reject:")] == [
        f"reject: {source}: row 3: occurred_at: '31/02/2026 10:00' is not a date in the "
        "format %d/%m/%Y %H:%M",
        f"reject: {source}: row 4: victim_age_band: '29/02/2025' is not a date in the "
        "format %d/%m/%Y",
        f"reject: {source}: row 5: recorded_at: '07/10/2026 24:00' is not a date in the "
        "format %d/%m/%Y %H:%M",
    ]
