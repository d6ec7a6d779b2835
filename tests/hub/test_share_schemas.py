"""The JSON Schemas of what each recipient receives, generated from the agreements.

The schemas are only worth anything if every share the hub makes is valid
against the one for its recipient and event type, so the last test runs the
enforcer over events of every record type and authority on the real OPA and
validates each share it produces.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from hub.cli import app
from hub.enforcer.anonymise import LEVELS, Anonymiser, RecipientKeys
from hub.enforcer.core import Enforcer, Incoming
from hub.enforcer.decisions import Decider
from hub.enforcer.policy import PolicyClient
from hub.share_schemas import (
    PayloadFields,
    ShareSchemaError,
    file_name,
    load,
    share_schemas,
)
from tests.fixtures.records import HUB_SIGNER
from tests.hub.enforcer import helpers
from tests.wire import samples
from tests.wire.strategies import records
from wire import compat, schemas
from wire.canonical import canonical_json
from wire.envelope import EventReader
from wire.geography import GeographyLookup
from wire.schemas import NAMESPACE, PAYLOADS, SchemaSet
from wire.shares import Share, envelope_schema
from wire.signing import Verifier
from wire.topics import TopicNames

POLICIES = helpers.POLICIES
AGREEMENTS, PARTIES = load(POLICIES)
SCHEMAS = share_schemas(AGREEMENTS, PARTIES)
WIRE = schemas.current()
LOOKUP = GeographyLookup.synthetic_sample()
BIRMINGHAM, COVENTRY = "E08000025", "E08000026"
runner = CliRunner()


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(recipient: str, event_type: str, share: dict[str, Any]) -> list[str]:
    found = validator(SCHEMAS[(recipient, event_type)]).iter_errors(share)
    return [f"{list(e.absolute_path)}: {e.message}" for e in found]


# ---------------------------------------------------------------- what is generated


def test_one_schema_per_recipient_and_event_type_an_agreement_covers() -> None:
    expected = {
        (recipient, event_type)
        for agreement in AGREEMENTS.values()
        for recipient in agreement["recipients"]
        for event_type in agreement["event_types"]
    }
    assert set(SCHEMAS) == expected
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


def test_the_envelope_is_the_frozen_one_with_the_pair_fixed() -> None:
    schema = SCHEMAS[("csp-birmingham", "INCIDENT")]
    properties = schema["properties"]
    assert properties["recipient"]["const"] == "csp-birmingham"
    assert properties["event_type"]["const"] == "INCIDENT"
    assert properties["record_type"]["const"] == "Incident"
    assert properties["agreement_id"]["enum"] == ["ed-istv-csps", "wmp-csps"]
    assert properties["source_authority"]["enum"] == ["swbh-ed", "uhb-ed", "wmp"]
    envelope = compat.structural(envelope_schema())
    generated = compat.structural(schema)
    for key in ("required", "additionalProperties", "allOf", "$defs", "$schema"):
        assert generated[key] == envelope[key]
    assert generated["properties"]["fields"] == envelope["properties"]["fields"]


def test_each_agreement_branch_lists_exactly_the_fields_it_releases() -> None:
    for (_, event_type), schema in SCHEMAS.items():
        record_fields = {f["name"] for f in WIRE.expanded(PAYLOADS[event_type])["fields"]}
        for branch in schema["oneOf"]:
            agreement = AGREEMENTS[branch["properties"]["agreement_id"]["const"]]
            released = {
                name
                for name, action in agreement["fields"].items()
                if action["action"] != "drop" and name in record_fields
            }
            fields = branch["properties"]["fields"]
            assert set(fields["properties"]) == set(fields["required"]) == released
            assert fields["additionalProperties"] is False
            assert branch["properties"]["source_authority"]["enum"] == sorted(
                agreement["disclosers"]
            )
            for name, field in fields["properties"].items():
                assert field["x-action"] == agreement["fields"][name]
                assert field["x-classification"]
                assert field["description"]


def test_types_after_each_action() -> None:
    vrp = SCHEMAS[("vrp", "INCIDENT")]["oneOf"]
    wmp = next(b for b in vrp if b["properties"]["agreement_id"]["const"] == "wmp-vrp")
    fields = wmp["properties"]["fields"]["properties"]
    assert fields["incident_pseudo_id"]["pattern"] == "^[0-9a-f]{64}(?!\\n)$"
    assert fields["subject_pseudo_id"]["type"] == ["string", "null"]
    assert fields["assault_datetime"]["format"] == "date-time"
    assert fields["assault_datetime"]["pattern"].endswith("T[0-9]{2}:00:00Z(?!\\n)$")
    assert fields["victim_age_band"]["enum"] == ["0-9", "10-17", "18-24", "25+", "UNKNOWN"]
    assert fields["victim_sex"]["enum"] == ["FEMALE", "MALE", "OTHER", "UNKNOWN"]
    assert fields["knife_flag"]["type"] == ["boolean", "null"]
    assert fields["offence_code_ho"]["type"] == ["string", "null"]
    geo = fields["geo"]["properties"]
    assert geo["lsoa21cd"]["type"] == ["string", "null"]
    assert geo["lad_cd"]["type"] == "string"  # regional: any LAD
    assert geo["region_cd"]["const"] == "E12000005"
    assert "ward_cd" not in geo
    public = SCHEMAS[("public", "INCIDENT")]["oneOf"][0]["properties"]["fields"]["properties"]
    assert public["assault_datetime"]["pattern"].startswith("^[0-9]{4}-[0-9]{2}-01T00:00:00Z")
    assert public["geo"]["properties"]["lsoa21cd"] == {
        "description": "Null: finer than lad.",
        "type": "null",
    }
    youth = SCHEMAS[("vrp", "OUTCOME")]["oneOf"][0]["properties"]["fields"]["properties"]
    assert youth["outcome_date"]["format"] == "date"
    assert youth["sessions_attended"]["type"] == "integer"
    referral = SCHEMAS[("vrp", "REFERRAL")]["oneOf"][0]["properties"]["fields"]["properties"]
    assert referral["reason_codes"]["type"] == "array"
    assert referral["home_geo"]["type"] == ["object", "null"]
    assert referral["linked_incident_pseudo_id"]["type"] == ["string", "null"]
    retraction = SCHEMAS[("csp-dudley", "RETRACTION")]["oneOf"][0]["properties"]["fields"]
    assert retraction["properties"]["retracted_event_id"]["format"] == "uuid"


def a_share(recipient: str, agreement: str, event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "share_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "record_type": PAYLOADS[event_type],
        "source_authority": AGREEMENTS[agreement]["disclosers"][0],
        "source_authority_type": "POLICE",
        "supersedes": None,
        "recipient": recipient,
        "agreement_id": agreement,
        "policy_revision": "sha256:1",
        "fields": fields,
    }


def police_incident(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "incident_pseudo_id": "ab" * 32,
        "incident_source": "POLICE_CRIME",
        "assault_datetime": "2026-11-06T23:00:00Z",
        "occurred_precision": None,
        "offence_group": "VIOLENCE_WITH_INJURY",
        "assault_method": "KNIFE_SHARP",
        "knife_flag": True,
        "domestic_abuse_flag": False,
        "sexual_offence_flag": None,
        "location_type": "PUBLIC_PLACE",
        "victim_age_band": "18-24",
        "geo": {
            "lsoa21cd": "E01900001",
            "msoa21cd": "E02900001",
            "lad_cd": BIRMINGHAM,
            "region_cd": "E12000005",
        },
    }
    return {**fields, **changes}


def test_a_share_is_valid_under_its_own_agreement_only() -> None:
    share = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **police_incident())
    assert errors("csp-birmingham", "INCIDENT", share) == []
    assert errors("csp-birmingham", "INCIDENT", {**share, "agreement_id": "ed-istv-csps"})
    assert errors("csp-coventry", "INCIDENT", share)  # another recipient's schema
    extra = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **police_incident(victim_sex="MALE"))
    assert errors("csp-birmingham", "INCIDENT", extra)  # not released by wmp-csps
    fields = police_incident()
    del fields["knife_flag"]
    missing = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **fields)
    assert errors("csp-birmingham", "INCIDENT", missing)


@pytest.mark.parametrize(
    "flag",
    [{"domestic_abuse_flag": True}, {"sexual_offence_flag": True}, {"location_type": "HOME"}],
)
def test_a_sensitive_incident_reaches_a_local_recipient_at_msoa(flag: dict[str, Any]) -> None:
    at_lsoa = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **police_incident(**flag))
    assert errors("csp-birmingham", "INCIDENT", at_lsoa)
    msoa = {**police_incident()["geo"], "lsoa21cd": None}
    at_msoa = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **police_incident(**flag, geo=msoa))
    assert errors("csp-birmingham", "INCIDENT", at_msoa) == []


def test_an_incident_at_home_reaches_a_csp_from_an_ed_at_msoa() -> None:
    fields = {
        "incident_pseudo_id": "cd" * 32,
        "incident_source": "ED_ISTV",
        "assault_datetime": "2026-11-06T23:00:00Z",
        "arrival_datetime": None,
        "injury_intent": "ASSAULT",
        "assault_method": "BODY_PART",
        "knife_flag": None,
        "firearm_flag": None,
        "location_type": "HOME",
        "geo": {
            "lsoa21cd": "E01900001",
            "msoa21cd": "E02900001",
            "lad_cd": BIRMINGHAM,
            "region_cd": "E12000005",
        },
    }
    share = a_share("csp-birmingham", "ed-istv-csps", "INCIDENT", **fields)
    assert errors("csp-birmingham", "INCIDENT", share)
    share["fields"]["geo"]["lsoa21cd"] = None
    assert errors("csp-birmingham", "INCIDENT", share) == []
    share["fields"]["location_type"] = "PUBLIC_PLACE"
    share["fields"]["geo"]["lsoa21cd"] = "E01900001"
    assert errors("csp-birmingham", "INCIDENT", share) == []


def test_a_scoped_local_recipient_gets_only_its_own_area() -> None:
    geo = {**police_incident()["geo"], "lad_cd": COVENTRY}
    share = a_share("csp-birmingham", "wmp-csps", "INCIDENT", **police_incident(geo=geo))
    assert errors("csp-birmingham", "INCIDENT", share)
    vrp = SCHEMAS[("vrp", "INCIDENT")]["oneOf"]
    assert all(
        "const" not in b["properties"]["fields"]["properties"]["geo"]["properties"]["lad_cd"]
        for b in vrp
    )


def test_a_retraction_carries_only_its_id_and_reason() -> None:
    share = a_share(
        "csp-walsall",
        "wmp-csps",
        "RETRACTION",
        retracted_event_id=str(uuid.uuid4()),
        reason="DUPLICATE",
    )
    assert errors("csp-walsall", "RETRACTION", share) == []
    share["fields"]["retracted_event_id"] = "not-a-uuid"
    assert errors("csp-walsall", "RETRACTION", share)


def test_the_file_name_follows_the_topic() -> None:
    assert file_name("csp-birmingham", "INCIDENT") == "csp-birmingham.incident.schema.json"


DOC = POLICIES.parent / "docs" / "shares.md"


def doc_blocks(language: str) -> list[str]:
    """The fenced code blocks of docs/shares.md in ``language``."""
    text = DOC.read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split(f"```{language}\n")[1:]]


def test_the_example_in_the_docs_is_a_valid_share() -> None:
    example = json.loads(doc_blocks("json")[0])
    assert errors("csp-birmingham", "INCIDENT", example) == []
    assert Share.from_bytes(canonical_json(example)).fields["geo"]["lsoa21cd"] is None


def test_the_python_example_in_the_docs_validates_a_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "schemas").mkdir()
    schema = SCHEMAS[("csp-birmingham", "INCIDENT")]
    (tmp_path / "schemas" / file_name("csp-birmingham", "INCIDENT")).write_text(json.dumps(schema))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(doc_blocks("python")[0], namespace)  # noqa: S102 - the documented example, run as written
    example = canonical_json(json.loads(doc_blocks("json")[0]))
    assert namespace["check"](example) == []
    assert namespace["check"](example.replace(b'"lsoa21cd":null', b'"lsoa21cd":"E01900001"'))


# ---------------------------------------------------------------- agreements that cannot work


def agreement(**fields: Any) -> dict[str, dict[str, Any]]:
    base = copy.deepcopy(AGREEMENTS["wmp-vrp"])
    base["fields"] = fields
    return {"wmp-vrp": base}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"victim_sex": {"action": "truncate", "unit": "day"}}, "truncate needs a time"),
        ({"offence_code_ho": {"action": "generalise", "level": "msoa"}}, "generalise needs"),
        ({"knife_flag": {"action": "band", "scheme": "age5"}}, "band needs"),
        ({"assault_datetime": {"action": "pseudonymise", "scope": "recipient"}}, "pseudonymise"),
        ({"envelope": {"action": "keep"}}, "the envelope is never a field"),
    ],
)
def test_an_action_its_field_cannot_take_names_agreement_and_field(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ShareSchemaError, match=message) as caught:
        share_schemas(agreement(**fields), PARTIES)
    name = next(iter(fields))
    assert str(caught.value).startswith(f"agreement wmp-vrp: fields.{name}: ")


def test_an_agreement_naming_free_text_has_no_branch_where_it_is_denied() -> None:
    sources = copy.deepcopy(WIRE.sources)
    for field in sources["Incident"]["fields"]:
        if field["name"] == "offence_code_ho":
            field["classification"] = "free_text"
    wire = SchemaSet("edited", sources)
    found = share_schemas(
        agreement(offence_code_ho={"action": "keep"}), PARTIES, wire, recipients=("vrp",)
    )
    assert ("vrp", "INCIDENT") not in found
    assert ("vrp", "RETRACTION") in found  # Retraction has no such field: allowed there


# ---------------------------------------------------------------- types against the anonymiser


@pytest.fixture(scope="module")
def anonymiser(tmp_path_factory: pytest.TempPathFactory) -> Anonymiser:
    return Anonymiser(LOOKUP, RecipientKeys(tmp_path_factory.mktemp("keys")))


def actions_for(record: PayloadFields, field: str) -> list[dict[str, str]]:
    """Every action the field's wire type can take."""
    candidates = [{"action": "keep"}, {"action": "pseudonymise", "scope": "recipient"}]
    candidates += [{"action": "generalise", "level": level} for level in LEVELS]
    candidates += [{"action": "band", "scheme": scheme} for scheme in ("age5", "age_svd")]
    candidates += [{"action": "truncate", "unit": u} for u in ("hour", "day", "week", "month")]
    possible = []
    for action in candidates:
        try:
            record.released(field, action, sensitive=False)
        except ShareSchemaError:
            continue
        possible.append(action)
    return possible


RECORDS = {name: PayloadFields(WIRE, name, "E12000005") for name in PAYLOADS.values()}
GEOS = st.sampled_from(LOOKUP.lsoas()).flatmap(
    lambda lsoa: st.fixed_dictionaries(
        {
            "lsoa21cd": st.sampled_from([lsoa, None]),
            "msoa21cd": st.sampled_from([LOOKUP.area(lsoa).msoa21cd, None]),
            "lad_cd": st.just(LOOKUP.area(lsoa).lad_cd),
            "ward_cd": st.sampled_from([None, "E05011111"]),
            "lsoa11cd": st.sampled_from([None, "E01009123"]),
        }
    )
)


@st.composite
def anonymisable(draw: st.DrawFn, record_type: str) -> dict[str, Any]:
    """A record of the type whose geography the lookup can generalise."""
    record = draw(records(WIRE, record_type))
    for field in ("geo", "home_geo"):
        if record.get(field) is not None:
            record[field] = draw(GEOS)
    return record


@pytest.mark.parametrize("record_type", list(PAYLOADS.values()))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_action_outputs_the_type_its_schema_says(
    anonymiser: Anonymiser, record_type: str, data: st.DataObject
) -> None:
    record = data.draw(anonymisable(record_type))
    shape = RECORDS[record_type]
    for field in shape.fields:
        for action in actions_for(shape, field):
            released = anonymiser.apply(record, {field: action}, "vrp")
            try:
                text = canonical_json(released)
            except ValueError:  # a non-finite double: the enforcer denies such a pair
                continue
            value = json.loads(text)[field]
            for sensitive in (False, True):
                schema = shape.released(field, action, sensitive=sensitive)
                found = [e.message for e in validator(schema).iter_errors(value)]
                assert not found, (field, action, value)


def test_a_kept_geography_may_arrive_at_msoa_for_a_local_recipient(anonymiser: Anonymiser) -> None:
    shape = RECORDS["Incident"]
    kept = shape.released("geo", {"action": "keep"}, sensitive=True)
    geo = {
        "lsoa21cd": "E01900001",
        "msoa21cd": None,
        "lad_cd": BIRMINGHAM,
        "ward_cd": None,
        "lsoa11cd": None,
    }
    coarsened = anonymiser.apply(
        {"geo": geo}, {"geo": {"action": "generalise", "level": "msoa"}}, "x"
    )
    assert validator(kept).is_valid(geo)
    assert validator(kept).is_valid(coarsened["geo"])
    assert not validator(shape.released("geo", {"action": "keep"}, sensitive=False)).is_valid(
        coarsened["geo"]
    )


# ---------------------------------------------------------------- the command


def test_the_command_prints_a_recipients_schemas() -> None:
    result = runner.invoke(app, ["schemas", "shares", "--recipient", "csp-birmingham"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert list(printed) == ["csp-birmingham.incident", "csp-birmingham.retraction"]
    for schema in printed.values():
        Draft202012Validator.check_schema(schema)
    assert printed["csp-birmingham.incident"] == json.loads(
        json.dumps(SCHEMAS[("csp-birmingham", "INCIDENT")])
    )


def test_the_command_writes_one_file_per_pair(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = runner.invoke(app, ["schemas", "shares", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(file_name(r, t) for r, t in SCHEMAS)
    assert f"wrote {len(SCHEMAS)} schemas to {out}" in result.output
    schema = json.loads((out / "vrp.referral.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)


def test_an_unknown_recipient_is_a_usage_error() -> None:
    result = runner.invoke(app, ["schemas", "shares", "--recipient", "csp-atlantis"])
    assert result.exit_code == 2
    assert "no recipient 'csp-atlantis' in parties.yaml" in result.output


def test_an_agreement_that_cannot_work_fails_the_command(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    (policies / "agreements").mkdir(parents=True)
    for name in ("parties.yaml", "partnership.yaml"):
        (policies / name).write_bytes((POLICIES / name).read_bytes())
    for path in (POLICIES / "agreements").iterdir():
        (policies / "agreements" / path.name).write_bytes(path.read_bytes())
    edited = yaml.safe_load((policies / "agreements" / "wmp-vrp.yaml").read_text())
    edited["fields"]["victim_sex"] = {"truncate": "day"}
    (policies / "agreements" / "wmp-vrp.yaml").write_text(yaml.safe_dump(edited))
    result = runner.invoke(app, ["schemas", "shares", "--policies", str(policies)])
    assert result.exit_code == 1
    assert "agreement wmp-vrp: fields.victim_sex: truncate needs a time" in result.output
    (policies / "parties.yaml").write_text("authorities: {}\n")
    result = runner.invoke(app, ["schemas", "shares", "--policies", str(policies)])
    assert result.exit_code == 1
    assert "parties.yaml" in result.output


# ---------------------------------------------------------------- every share the enforcer makes

TODAY = datetime(2026, 11, 28, 12, tzinfo=UTC)
NAMES = TopicNames("schemas")
RECORD_TYPES = {record: event_type for event_type, record in PAYLOADS.items()}


class Events:
    """Seeded random events of every record type: wire values drawn from the Avro
    types, with geography the lookup knows (or nearly) and the flags that make a
    location sensitive set often."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.named: dict[str, Any] = {}
        self.n = 0
        self.published: dict[str, list[uuid.UUID]] = {}  # authority -> its event ids

    def value(self, node: Any) -> Any:  # noqa: PLR0911 - one return per wire type
        rng = self.rng
        if isinstance(node, str) and node.removeprefix(f"{NAMESPACE}.") in self.named:
            return self.value(self.named[node.removeprefix(f"{NAMESPACE}.")])
        if isinstance(node, list):
            return self.value(rng.choice(node))
        if isinstance(node, dict):
            if node.get("type") in ("record", "enum"):
                self.named[node["name"]] = node
            logical = node.get("logicalType")
            if logical == "timestamp-millis":
                ms = rng.randrange(1_700_000_000_000, 1_800_000_000_000)
                return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
            if logical == "date":
                return date(2025, 1, 1) + timedelta(days=rng.randrange(900))
            if logical == "uuid":
                return uuid.UUID(int=rng.getrandbits(128), version=4)
            kind = node["type"]
            if kind == "enum":
                return rng.choice(node["symbols"])
            if kind == "array":
                return [self.value(node["items"]) for _ in range(rng.randrange(4))]
            if kind == "record":
                return {f["name"]: self.value(f["type"]) for f in node["fields"]}
            return self.value(kind)
        return {
            "null": None,
            "boolean": rng.random() < 0.5,
            "int": rng.randrange(0, 40),
            "long": rng.randrange(0, 2**40),
            "double": rng.uniform(-5, 50),
            "string": rng.choice(["A1", "8N", "café-Ω", "x" * 40, f"p-{rng.getrandbits(32):x}"]),
        }[node]

    def geo(self) -> dict[str, Any]:
        area = LOOKUP.area(self.rng.choice(LOOKUP.lsoas()))
        lsoa: str | None = area.lsoa21cd
        msoa: str | None = area.msoa21cd
        choice = self.rng.randrange(5)
        if choice == 1:
            msoa = None  # filled from the lookup
        elif choice == 2:
            lsoa = None  # MSOA known, LSOA not
        elif choice == 3:
            lsoa, msoa = None, None  # the LAD alone
        elif choice == 4:
            lsoa = "E01999999"  # not in the lookup, but its MSOA is given
        ward = self.rng.choice([None, "E05011111"])
        old = self.rng.choice([None, "E01009123"])  # a 2011 code the connector translated
        return {
            "lsoa21cd": lsoa,
            "msoa21cd": msoa,
            "lad_cd": area.lad_cd,
            "ward_cd": ward,
            "lsoa11cd": old,
        }

    def record(self, record_type: str, authority: str) -> dict[str, Any]:
        self.n += 1
        expanded = WIRE.expanded(record_type)
        record = {f["name"]: self.value(f["type"]) for f in expanded["fields"]}
        for name, value in record.items():
            if name.endswith("_pseudo_id") and value is not None:
                # as connectors write them (the audit record requires it of subjects)
                record[name] = f"{self.rng.getrandbits(256):064x}"
        record["envelope"] = samples.envelope(
            authority,
            f"{authority}-{record_type}-{self.n}",
            event_type=RECORD_TYPES[record_type],
            source_authority_type=helpers.AUTHORITIES[authority],
        )
        published = self.published.setdefault(authority, [])
        if record_type == "Retraction":
            # of one of the authority's own events (the hub routes no other)
            record["retracted_event_id"] = published.pop(self.rng.randrange(len(published)))
        else:
            published.append(record["envelope"]["event_id"])
        if "geo" in record:
            record["geo"] = self.geo()
        if record.get("home_geo") is not None:
            record["home_geo"] = self.geo()
        if record_type == "Incident":
            sensitive = self.n % 4
            record["domestic_abuse_flag"] = sensitive == 1 or self.value(["null", "boolean"])
            record["sexual_offence_flag"] = sensitive == 2 or self.value(["null", "boolean"])
            if sensitive == 3:
                record["location_type"] = "HOME"
        return record

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for authority in helpers.AUTHORITIES:
            for record_type, count in (
                ("Incident", 40),
                ("Referral", 8),
                ("Outcome", 8),
                ("Retraction", 24),
            ):
                for _ in range(count):
                    yield record_type, self.record(record_type, authority)


def test_every_share_the_enforcer_makes_is_valid_against_its_schema(
    opa_url: str, opa_token: str, tmp_path: Path
) -> None:
    keys = helpers.Keys(tmp_path)
    enforcer = Enforcer(
        EventReader(helpers.CODEC, Verifier(keys.registry())),
        Anonymiser(LOOKUP, RecipientKeys(tmp_path / "keys" / "recipients")),
        NAMES,
        clock=lambda: TODAY,
        signer=HUB_SIGNER,
    )
    validators = {pair: validator(schema) for pair, schema in SCHEMAS.items()}
    by_agreement: Counter[str] = Counter()
    by_pair: Counter[tuple[str, str]] = Counter()
    coarsened = 0
    with PolicyClient(opa_url, opa_token) as client:
        decider = Decider(client)
        for offset, (record_type, record) in enumerate(Events(seed=20261128)):
            authority = record["envelope"]["source_authority"]
            topic = NAMES.raw(authority, RECORD_TYPES[record_type])
            value = keys.writer(authority).write(record_type, record)
            out = enforcer.process(Incoming(topic, 0, offset, b"k", value), decider)
            for message in out:
                if ".svd.shared." not in message.topic:
                    continue
                share = Share.from_bytes(message.value)
                pair = (share.recipient, share.event_type)
                as_sent = json.loads(message.value)
                problems = [
                    f"{list(c.absolute_path)}: {c.message}"
                    for e in validators[pair].iter_errors(as_sent)
                    for c in [e, *e.context]
                ]
                assert not problems, (share.agreement_id, as_sent, problems)
                by_agreement[share.agreement_id] += 1
                by_pair[pair] += 1
                if (
                    share.agreement_id == "wmp-csps"
                    and record.get("domestic_abuse_flag") is True
                    and record["geo"]["lsoa21cd"] in LOOKUP
                ):
                    assert share.fields["geo"]["lsoa21cd"] is None
                    coarsened += 1
    assert set(by_agreement) == set(AGREEMENTS), by_agreement
    assert set(by_pair) == set(SCHEMAS), set(SCHEMAS) - set(by_pair)
    assert coarsened > 0
    print(f"{sum(by_agreement.values())} shares valid: {dict(sorted(by_agreement.items()))}")
