"""``svdhub subscribe``: exactly the recipient's verified shares, resumable, on
any output; forged or invalid messages refused (unit and real-Kafka tests)."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from hub.enforcer.topic_admin import TopicAdmin
from hub.subscribe import (
    COLUMNS,
    Checker,
    CsvFile,
    Format,
    JsonLines,
    ParquetFolder,
    SqliteTable,
    guess_format,
    open_output,
    published_schemas,
)
from tests.fixtures.kafka import Principals
from tests.fixtures.records import HUB_KEYS, HUB_SIGNER, OTHER_SIGNER, a_share, an_id
from wire.canonical import ContractError
from wire.hub_signing import HubSigner
from wire.kafka_client import ClientSettings
from wire.shares import Share
from wire.topics import TopicNames


def valid_share(n: int, recipient: str = "vrp", **fields: Any) -> Share:
    """A share the wmp-vrp agreement could have sent: valid against its schema."""
    released: dict[str, Any] = {
        "incident_pseudo_id": an_id(f"incident-{n}").replace("-", "").ljust(64, "0")[:64],
        "subject_pseudo_id": None,
        "offence_code_ho": "105A",
        "occurred_precision": None,
        "police_outcome": None,
        "knife_flag": True,
        "firearm_flag": False,
        "domestic_abuse_flag": False,
        "sexual_offence_flag": False,
        "location_type": "PUBLIC_PLACE",
        "victim_sex": "MALE",
    }
    return a_share(n, recipient, **{**released, **fields})


def signed(share: Share, signer: HubSigner = HUB_SIGNER) -> tuple[bytes, list[tuple[str, bytes]]]:
    value = share.to_bytes()
    return value, list(signer.sign(value))


@pytest.fixture(scope="module")
def checker() -> Checker:
    names = TopicNames()
    return Checker("vrp", names, HUB_KEYS, published_schemas("vrp", names, None))


# ------------------------------------------------------------------ unit


def test_a_signed_valid_share_passes(checker: Checker) -> None:
    share = valid_share(1)
    value, headers = signed(share)
    assert checker.check("svd.shared.vrp.incident", value, headers) == share


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unsigned", "unsigned"),
        ("other key", "unknown_key"),
        ("tampered", "bad_signature"),
        ("other recipient", "wrong_topic"),
        ("wrong type topic", "wrong_topic"),
        ("invalid fields", "schema"),
    ],
)
def test_a_bad_message_is_refused_with_a_code(checker: Checker, case: str, code: str) -> None:
    topic = "svd.shared.vrp.incident"
    share = valid_share(2)
    value, headers = signed(share)
    if case == "unsigned":
        headers = []
    elif case == "other key":
        value, headers = signed(share, OTHER_SIGNER)
    elif case == "tampered":
        value = value.replace(b"MALE", b"FEMALE")
    elif case == "other recipient":
        value, headers = signed(valid_share(2, "csp-coventry"))
    elif case == "wrong type topic":
        topic = "svd.shared.vrp.referral"
    elif case == "invalid fields":
        value, headers = signed(valid_share(2, location_type="A PUB ON HIGH STREET"))
    with pytest.raises(ContractError) as caught:
        checker.check(topic, value, headers)
    assert caught.value.code == code
    if case == "invalid fields":
        assert "fields/location_type" in str(caught.value)


@pytest.mark.parametrize("form", list(Format))
def test_every_output_keeps_each_share_once_across_reopens(tmp_path: Path, form: Format) -> None:
    path = tmp_path / f"out.{form.value}"
    shares = [valid_share(n) for n in range(5)]
    first = open_output(path, form)
    assert first.seen() == set()
    first.write([(s, s.to_bytes()) for s in shares[:3]])
    first.close()
    again = open_output(path, form)
    assert again.seen() == {s.share_id for s in shares[:3]}
    again.write([(s, s.to_bytes()) for s in shares[3:]])
    again.close()
    last = open_output(path, form)
    assert last.seen() == {s.share_id for s in shares}
    last.close()
    assert rows_of(path, form) == [s.share_id for s in shares]


def rows_of(path: Path, form: Format) -> list[str]:
    if form is Format.jsonl:
        return [json.loads(line)["share_id"] for line in path.read_text().splitlines()]
    if form is Format.csv:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == list(COLUMNS)
        return [row["share_id"] for row in rows]
    if form is Format.sqlite:
        with sqlite3.connect(path) as db:
            return [str(r[0]) for r in db.execute("SELECT share_id FROM shares ORDER BY rowid")]
    import pyarrow.parquet as pq  # noqa: PLC0415

    return [
        str(v)
        for part in ParquetFolder(path).parts()
        for v in pq.read_table(part)["share_id"].to_pylist()
    ]


def test_a_line_cut_short_by_a_kill_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    whole = valid_share(1).to_bytes()
    path.write_bytes(whole + b"\n" + valid_share(2).to_bytes()[:40])
    output = JsonLines(path)
    assert output.seen() == {valid_share(1).share_id}
    output.close()
    csv_path = tmp_path / "out.csv"
    table = CsvFile(csv_path)
    table.write([(valid_share(1), whole)])
    table.close()
    with csv_path.open("a") as handle:
        handle.write("half,a,row")
    reopened = CsvFile(csv_path)
    assert reopened.seen() == {valid_share(1).share_id}
    reopened.close()
    db = SqliteTable(tmp_path / "out.sqlite")
    db.write([(valid_share(1), whole), (valid_share(1), whole)])
    assert db.seen() == {valid_share(1).share_id}
    db.close()


def test_the_format_comes_from_the_name_or_is_asked_for() -> None:
    assert guess_format(Path("a.jsonl")) is Format.jsonl
    assert guess_format(Path("a.parquet")) is Format.parquet
    with pytest.raises(ValueError, match="give --format"):
        guess_format(Path("a.txt"))


# ------------------------------------------------------------------ real Kafka


@pytest.fixture
def stream(
    grant_access: Callable[[TopicNames], Principals],
    kafka_admin: ClientSettings,
    tmp_path: Path,
) -> tuple[Principals, Path]:
    principals = grant_access(TopicNames(f"t-{uuid.uuid4().hex[:10]}"))
    names = principals.names
    TopicAdmin(kafka_admin).ensure(
        [names.shared("vrp", "incident"), names.shared("csp-coventry", "incident")]
    )
    key_file = tmp_path / "hub-keys.json"
    key_file.write_text(HUB_KEYS.to_json(), encoding="utf-8")
    return principals, key_file


def produce(kafka: ClientSettings, topic: str, messages: list[tuple[bytes, Any]]) -> None:
    producer = KafkaProducer(**kafka.kafka_python(), acks="all", linger_ms=20)
    try:
        for value, headers in messages:
            producer.send(topic, key=b"k", value=value, headers=headers)
        producer.flush(60)
    finally:
        producer.close()


def subscribe(
    principals: Principals, key_file: Path, *args: str, recipient: str = "vrp"
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hub.cli",
        "subscribe",
        "--recipient",
        recipient,
        "--hub-key",
        str(key_file),
        *args,
    ]


def env_for(principals: Principals) -> dict[str, str]:
    return {**os.environ, "SVDHUB_TOPIC_NAMESPACE": principals.names.namespace}


def test_it_writes_exactly_the_recipients_verified_shares(
    stream: tuple[Principals, Path], kafka_admin: ClientSettings, tmp_path: Path
) -> None:
    principals, key_file = stream
    names = principals.names
    good = [valid_share(n) for n in range(20)]
    forged = valid_share(100)
    produce(
        kafka_admin,
        names.shared("vrp", "incident"),
        [
            *(signed(s) for s in good),
            signed(forged, OTHER_SIGNER),  # not the hub's key
            (forged.to_bytes(), []),  # unsigned
            signed(valid_share(101, "csp-coventry")),  # hub-signed, another recipient's
            signed(good[0]),  # a replay
        ],
    )
    produce(kafka_admin, names.shared("csp-coventry", "incident"), [signed(valid_share(7))])
    out = tmp_path / "vrp.jsonl"
    done = subprocess.run(
        [
            *subscribe(principals, key_file, "--to", str(out)),
            "--credentials",
            str(principals.file("recipient-vrp")),
        ],
        env=env_for(principals),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 4, done.stderr  # some messages were refused
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["share_id"] for line in lines] == [s.share_id for s in good]
    assert "20 shares written" in done.stderr
    assert "3 refused" in done.stderr
    assert "1 already there" in done.stderr


def test_it_resumes_after_a_kill_without_gaps_or_repeats(
    stream: tuple[Principals, Path], kafka_admin: ClientSettings, tmp_path: Path
) -> None:
    principals, key_file = stream
    topic = principals.names.shared("vrp", "incident")
    shares = [valid_share(n) for n in range(3000)]
    produce(kafka_admin, topic, [signed(s) for s in shares])
    out = tmp_path / "vrp.sqlite"
    command = [
        *subscribe(principals, key_file, "--to", str(out), "--follow"),
        "--credentials",
        str(principals.file("recipient-vrp")),
    ]
    first = subprocess.Popen(command, env=env_for(principals), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and count(out) < 500:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    assert 0 < count(out) < len(shares), "the kill did not land mid-stream"
    rest = subprocess.run(
        [c for c in command if c != "--follow"],
        env=env_for(principals),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert rest.returncode == 0, rest.stderr
    with sqlite3.connect(out) as db:
        ids = [str(r[0]) for r in db.execute("SELECT share_id FROM shares")]
    assert sorted(ids) == sorted(s.share_id for s in shares)


def count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT count(*) FROM shares").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_another_recipients_stream_is_refused_in_one_line(
    stream: tuple[Principals, Path], tmp_path: Path
) -> None:
    principals, key_file = stream
    done = subprocess.run(
        [
            *subscribe(
                principals,
                key_file,
                "--to",
                str(tmp_path / "theirs.jsonl"),
                recipient="csp-coventry",
            ),
            "--credentials",
            str(principals.file("recipient-vrp")),
        ],
        env=env_for(principals),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"Kafka refused User:{principals.name('recipient-vrp')}" in errors[0]
    assert "csp-coventry" in errors[0]
