"""The share envelope's JSON Schema agrees with the share parser, and is frozen.

The parser (``Share.from_bytes``) is the contract; ``envelope_schema`` is its
description for recipients. A share the parser accepts must be valid against
the schema, and a share it refuses for its structure must be invalid. Only
what a JSON Schema cannot say is the parser's alone: the bytes (size,
canonical form) and that ``fields`` names fields of the record type.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from wire import compat
from wire.canonical import UUID_PATTERN, canonical_json
from wire.schemas import PAYLOADS
from wire.shares import (
    AGREEMENT_ID,
    KEYS,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_VALUE_LENGTH,
    REVISION,
    Share,
    ShareError,
    authority_types,
    envelope_schema,
    payload_fields,
    schema_pattern,
)
from wire.topics import PARTY_ID

VALIDATOR = Draft202012Validator(
    envelope_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
)


def schema_accepts(value: Any) -> bool:
    return VALIDATOR.is_valid(value)


def parser_accepts(value: dict[str, Any]) -> bool:
    try:
        Share.from_bytes(canonical_json(value))
    except ShareError:
        return False
    return True


# ---------------------------------------------------------------- strategies

uuids = st.uuids().map(str)
party_ids = st.from_regex(PARTY_ID, fullmatch=True)
agreement_ids = st.from_regex(AGREEMENT_ID, fullmatch=True)
revisions = st.from_regex(REVISION, fullmatch=True)
# Strings within the limits: no NUL, and no lone surrogates, which are not
# text (UTF-8 cannot encode them).
characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
texts = st.text(characters, max_size=12) | st.text(
    characters, min_size=MAX_VALUE_LENGTH, max_size=MAX_VALUE_LENGTH
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4)


#: A value of a field, nested no deeper than the share allows (share > fields > value > value).
values = scalars | containers(scalars | containers(scalars))


@st.composite
def shares(draw: st.DrawFn) -> dict[str, Any]:
    """A share as a dict, valid by construction."""
    event_type = draw(st.sampled_from(list(PAYLOADS)))
    record_type = PAYLOADS[event_type]
    names = sorted(payload_fields(record_type))
    fields = draw(st.dictionaries(st.sampled_from(names), values, max_size=len(names)))
    share = Share(
        share_id=draw(uuids),
        event_id=draw(uuids),
        event_type=event_type,
        record_type=record_type,
        source_authority=draw(party_ids),
        source_authority_type=draw(st.sampled_from(authority_types())),
        supersedes=draw(st.none() | uuids),
        recipient=draw(party_ids),
        agreement_id=draw(agreement_ids),
        policy_revision=draw(revisions),
        fields=fields,
    )
    as_sent: dict[str, Any] = json.loads(share.to_bytes())
    return as_sent


def near_misses(valid: str) -> st.SearchStrategy[Any]:
    """Values close to a valid string: a newline, a case, a character or a length off."""
    return st.sampled_from(
        [
            valid + "\n",
            "\n" + valid,
            valid.upper(),
            valid + " ",
            valid[:-1],
            valid + valid,
            valid + "\x00",
            "",
            valid * 8,
            None,
            1,
            True,
            [valid],
            {"v": valid},
        ]
    )


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid share with one thing changed, which may or may not break it."""
    share = draw(shares())
    kind = draw(st.sampled_from(["value", "near_miss", "drop", "add", "fields", "swap_type"]))
    if kind == "drop":
        del share[draw(st.sampled_from(KEYS))]
    elif kind == "add":
        share[draw(texts.filter(lambda k: k not in KEYS))] = draw(scalars)
    elif kind == "swap_type":
        share["event_type"] = draw(st.sampled_from(list(PAYLOADS)))
    elif kind == "value":
        share[draw(st.sampled_from(KEYS))] = draw(values)
    elif kind == "near_miss":
        key = draw(st.sampled_from([k for k in KEYS if isinstance(share[k], str)]))
        share[key] = draw(near_misses(share[key]))
    else:
        name = draw(st.sampled_from(sorted(payload_fields(share["record_type"]))))
        share["fields"] = draw(too_much(name) | values)
    return share


def too_much(name: str) -> st.SearchStrategy[Any]:
    """``fields`` values that break a limit (too long, too many entries, too deep, a
    NUL), or come just within it."""
    return st.sampled_from(
        [
            {name: "x" * (MAX_VALUE_LENGTH + 1)},
            {name: "a\x00b"},
            {name: list(range(MAX_ITEMS + 1))},
            {name: {str(i): i for i in range(MAX_ITEMS + 1)}},
            {name: [[[1]]]},
            {name: {"a": {"b": {"c": 1}}}},
            {name: {"k" * (MAX_VALUE_LENGTH + 1): 1}},
            {name: [[1]]},
            {name: {"a": {"b": 1}}},
        ]
    )


def parser_only(value: dict[str, Any]) -> bool:
    """Whether the parser may refuse ``value`` for a reason the schema cannot state."""
    fields = value.get("fields")
    record_type = value.get("record_type")
    if isinstance(fields, dict) and record_type in PAYLOADS.values():
        if set(fields) - payload_fields(str(record_type)):
            return True
    elif isinstance(fields, dict) and fields:
        return True  # no valid record type: the parser may name either problem
    return len(canonical_json(value)) > MAX_BYTES


# ---------------------------------------------------------------- the schema


def test_the_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(envelope_schema())
    assert envelope_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_key_is_required_and_nothing_else_allowed() -> None:
    schema = envelope_schema()
    assert schema["required"] == list(KEYS)
    assert list(schema["properties"]) == list(KEYS)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["fields"]["type"] == "object"


def test_choices_come_from_the_wire_schemas() -> None:
    properties = envelope_schema()["properties"]
    assert properties["event_type"]["enum"] == list(PAYLOADS)
    assert properties["record_type"]["enum"] == list(PAYLOADS.values())
    assert properties["source_authority_type"]["enum"] == list(authority_types())


def test_patterns_refuse_a_trailing_newline_even_in_python() -> None:
    """Python validators search with re, where a bare $ matches before a final newline."""
    pattern = schema_pattern(UUID_PATTERN)
    good = str(uuid.uuid4())
    validator = Draft202012Validator({"type": "string", "pattern": pattern})
    assert validator.is_valid(good)
    assert not validator.is_valid(good + "\n")
    with pytest.raises(ValueError, match="not anchored"):
        schema_pattern("[a-z]+")


def test_a_share_from_the_test_factory_is_valid() -> None:
    share = Share(
        share_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        event_type="INCIDENT",
        record_type="Incident",
        source_authority="wmp",
        source_authority_type="POLICE",
        supersedes=None,
        recipient="csp-birmingham",
        agreement_id="wmp-csps",
        policy_revision="sha256:" + "0" * 64,
        fields={"geo": {"lsoa21cd": None, "msoa21cd": "E02900001"}, "knife_flag": True},
    )
    assert schema_accepts(json.loads(share.to_bytes()))


@settings(max_examples=300)
@given(shares())
def test_every_share_the_parser_accepts_is_valid(share: dict[str, Any]) -> None:
    assert parser_accepts(share)
    errors = [e.message for e in VALIDATOR.iter_errors(share)]
    assert not errors


@settings(max_examples=600)
@given(mutated())
def test_the_schema_and_the_parser_agree_on_structure(share: dict[str, Any]) -> None:
    parser, schema = parser_accepts(share), schema_accepts(share)
    if parser:
        assert schema, "the parser accepts a share the schema refuses"
    elif not parser_only(share):
        assert not schema, "the parser refuses a share the schema accepts"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("share_id", "not-a-uuid"),
        ("event_id", str(uuid.uuid4()).upper()),
        ("event_type", "SAFEGUARDING"),
        ("record_type", "Referral"),  # an INCIDENT's record type is Incident
        ("source_authority", "West Midlands Police"),
        ("source_authority_type", "COUNCIL"),
        ("supersedes", ""),
        ("recipient", "a" * 41),
        ("agreement_id", "wmp_csps"),
        ("policy_revision", "sha256:abc\n"),
        ("fields", []),
        ("fields", {"geo": "x" * (MAX_VALUE_LENGTH + 1)}),
        ("fields", {"geo": {"a": {"b": {"c": 1}}}}),
        ("fields", {"geo": list(range(MAX_ITEMS + 1))}),
        ("fields", {"geo": {str(i): i for i in range(MAX_ITEMS + 1)}}),
        ("fields", {"geo": {"k" * (MAX_VALUE_LENGTH + 1): 1}}),
        ("fields", {"geo": "a\x00b"}),
    ],
)
def test_each_kind_of_bad_value_is_refused_by_both(key: str, value: Any) -> None:
    share: dict[str, Any] = {
        "share_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "event_type": "INCIDENT",
        "record_type": "Incident",
        "source_authority": "wmp",
        "source_authority_type": "POLICE",
        "supersedes": None,
        "recipient": "vrp",
        "agreement_id": "wmp-vrp",
        "policy_revision": "sha256:1",
        "fields": {},
    }
    assert parser_accepts(share) and schema_accepts(share)
    share[key] = value
    assert not parser_accepts(share)
    assert not schema_accepts(share)


def test_the_depth_limit_is_the_parsers() -> None:
    assert MAX_DEPTH == 4  # share > fields > value > value: what the $defs spell out
    deepest = {"fields": {"geo": {"a": [1]}}}
    too_deep = {"fields": {"geo": {"a": [[1]]}}}
    assert VALIDATOR.evolve(schema={**envelope_schema(), "required": []}).is_valid(deepest)
    assert not VALIDATOR.evolve(schema={**envelope_schema(), "required": []}).is_valid(too_deep)


# ---------------------------------------------------------------- frozen and checked


def test_the_shipped_envelope_matches_the_frozen_one() -> None:
    releases = compat.released_envelopes()
    assert list(releases) == ["v1"]
    assert compat.envelope_problems(envelope_schema(), releases) == []


def test_annotations_may_change_freely() -> None:
    changed = envelope_schema()
    changed["title"] = "another title"
    changed["$comment"] = "a note"
    changed["properties"]["share_id"]["description"] = "reworded"
    changed["properties"]["fields"]["examples"] = [{}]
    changed["$defs"]["scalar"]["description"] = "reworded"
    changed["allOf"][0]["then"]["properties"]["record_type"]["title"] = "t"
    assert compat.envelope_problems(changed, compat.released_envelopes()) == []


def breaking(change: str) -> dict[str, Any]:
    schema = envelope_schema()
    properties = schema["properties"]
    if change == "add":
        properties["region"] = {"type": "string", "description": "new"}
    elif change == "remove":
        del properties["supersedes"]
    elif change == "rename":
        properties["recipient_id"] = properties.pop("recipient")
    elif change == "type":
        properties["supersedes"]["type"] = "string"
    elif change == "pattern":
        properties["recipient"]["pattern"] = "^[a-z]+$"
    elif change == "maxLength":
        properties["policy_revision"]["maxLength"] = 64
    elif change == "enum":
        properties["event_type"]["enum"].append("SAFEGUARDING")
    elif change == "required":
        schema["required"].remove("supersedes")
    elif change == "limit":
        schema["$defs"]["scalar"]["maxLength"] = 1024
    return schema


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("add", "share: key 'region' added"),
        ("remove", "share: key 'supersedes' removed"),
        ("rename", "share: key 'recipient' renamed to 'recipient_id'"),
        ("type", 'supersedes: type changed from ["string", "null"] to "string"'),
        ("pattern", "recipient: pattern changed from"),
        ("maxLength", "policy_revision: maxLength changed from 128 to 64"),
        ("enum", 'event_type: enum: "SAFEGUARDING" now allowed'),
        ("required", 'share: required: "supersedes" no longer required'),
        ("limit", "$defs/scalar: maxLength changed from 256 to 1024"),
    ],
)
def test_a_change_a_validator_would_notice_is_refused(change: str, expected: str) -> None:
    problems = compat.envelope_problems(breaking(change), compat.released_envelopes())
    messages = [str(p) for p in problems]
    assert any(expected in m for m in messages), messages
    for message in messages:
        assert message.startswith("share envelope (against shares/v1): ")
        assert "svdhub schemas freeze --shares" in message


def test_reordering_a_list_of_choices_is_no_change() -> None:
    schema = envelope_schema()
    schema["properties"]["event_type"]["enum"].reverse()
    schema["properties"]["supersedes"]["type"].reverse()
    assert compat.envelope_problems(schema, compat.released_envelopes()) == []


def test_structural_strips_annotations_only_where_they_annotate() -> None:
    schema = {
        "description": "x",
        "properties": {"description": {"type": "string", "title": "t"}},
        "enum": [{"description": "kept: a value, not a schema"}],
    }
    assert compat.structural(schema) == {
        "properties": {"description": {"type": "string"}},
        "enum": [{"description": "kept: a value, not a schema"}],
    }


def test_a_key_without_a_description_is_a_problem() -> None:
    schema = envelope_schema()
    del schema["properties"]["recipient"]["description"]
    problems = compat.envelope_problems(schema, {})
    assert [p.message for p in problems] == ["recipient: no description"]


def test_an_invalid_json_schema_is_a_problem() -> None:
    schema = envelope_schema()
    schema["properties"]["recipient"]["maxLength"] = "forty"
    problems = compat.envelope_problems(schema, {})
    assert problems and "not a valid JSON Schema" in problems[0].message


def test_freezing_writes_the_next_version(tmp_path: Path) -> None:
    folder = tmp_path / "shares"
    assert compat.released_envelopes(folder) == {}
    assert compat.freeze_envelope(envelope_schema(), {}, folder) == "v1"
    changed = breaking("enum")
    assert compat.freeze_envelope(changed, compat.released_envelopes(folder), folder) == "v2"
    releases = compat.released_envelopes(folder)
    assert list(releases) == ["v1", "v2"]
    assert releases["v2"] == json.loads(json.dumps(changed))
    assert compat.envelope_problems(changed, releases) == []
    assert compat.envelope_problems(envelope_schema(), releases)  # v2 is the one that counts
    with pytest.raises(FileExistsError):
        compat.freeze_envelope(changed, {"v1": {}}, folder)


def test_the_frozen_file_is_written_as_freeze_writes_it() -> None:
    path = compat.SHARES_DIR / "v1" / compat.SHARE_SCHEMA_FILE
    frozen = json.loads(path.read_text(encoding="utf-8"))
    assert path.read_text(encoding="utf-8") == compat.envelope_json(frozen)
    assert copy.deepcopy(frozen) == compat.released_envelopes()["v1"]
