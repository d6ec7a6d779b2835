"""Connectors end to end against real Kafka, on synthetic extracts.

Each test runs under a topic namespace of its own (``t-<random>``), whose
principals and raw topics the hub made first (``grant_access``), so the
connector writes to a raw topic of its own as ``<namespace>.connector-<authority>``,
with exactly the rights it has in production: write and describe its raw topics.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from edge.checkpoint import Checkpoint
from edge.cli import connector_app
from edge.config import ConnectorConfig, authority_home
from edge.runner import Connector
from tests.edge.helpers import CONFIGS, Setup, prepare, topic_configs
from tests.fixtures.kafka import Principals, message_count, read_all
from tests.fixtures.services import free_port
from wire import schemas
from wire.codec import AvroCodec
from wire.envelope import EventReader
from wire.kafka_client import ClientSettings
from wire.signing import Verifier
from wire.topics import TopicKind, TopicNames
from wire.topics import topic_configs as raw_topic_configs

SAMPLES = sorted(CONFIGS.glob("*.yaml"))
SOURCE_FILES = {
    "wmp-crime": "wmp_crime.csv",
    "uhb-ed-istv": "uhb_istv.csv",
    "swbh-ed-istv": "swbh_istv.csv",
    "wmas-callouts": "wmas_callouts.csv",
    "bcc-youth-referrals": "youth_service.sqlite",
    "yos-birmingham-outcomes": "yos_outcomes.csv",
}


def credentials(setup: Setup, principals: Principals) -> list[str]:
    """``--credentials`` of the setup's connector principal in this namespace."""
    return ["--credentials", str(principals.file(setup.principal))]


def new_connector(setup: Setup, principals: Principals) -> Connector:
    """The connector, in this process, connecting as its own principal."""
    return Connector(setup.config, principals.settings(setup.principal))


def connector_command(setup: Setup, *options: str) -> list[str]:
    """`svdhub connector run` on this setup's config, as its own process."""
    return [sys.executable, "-m", "hub.cli", "connector", "run", str(setup.config_file), *options]


def invoke_run(setup: Setup, *options: str) -> Any:
    """`svdhub connector run` on this setup's config, in this process."""
    return CliRunner().invoke(connector_app, ["run", str(setup.config_file), *options])


def source_rows(setup: Setup, sample: str) -> int:
    """The rows a run reads: the extract's, and an SQL source's deleted rows."""
    name = SOURCE_FILES[sample]
    path = setup.home / "synthetic" / name
    if name.endswith(".sqlite"):
        with sqlite3.connect(path) as db:
            referrals = db.execute("SELECT count(*) FROM referrals").fetchone()[0]
            deletions = db.execute("SELECT count(*) FROM referral_deletions").fetchone()[0]
            return int(referrals) + int(deletions)
    with path.open(encoding=setup.config.source.encoding, newline="") as handle:  # type: ignore[union-attr]
        return sum(1 for line in handle if not line.startswith("#")) - 1


def never_shared_values(setup: Setup, sample: str) -> set[str]:
    """Every value of the config's identifier and free-text columns (5+ characters)."""
    columns = set(setup.config.never_share)
    path = setup.home / "synthetic" / SOURCE_FILES[sample]
    values: set[str] = set()
    if path.suffix == ".sqlite":
        with sqlite3.connect(path) as db:
            db.row_factory = sqlite3.Row
            for row in db.execute("SELECT * FROM referrals"):
                values |= {str(row[c]) for c in columns if row[c] is not None}
    else:
        encoding = setup.config.source.encoding  # type: ignore[union-attr]
        with path.open(encoding=encoding, newline="") as handle:
            lines = (line for line in handle if not line.startswith("#"))
            for row in csv.DictReader(lines):
                values |= {row[c] for c in columns if row.get(c)}
    return {v for v in values if len(v) >= 5}


#: The base64 alphabets' characters (standard and URL-safe, with padding).
BASE64_CHARACTERS = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
)


def standing(value: str, data: bytes) -> bool:
    """Whether ``value`` occurs in ``data`` not inside a run of base64 characters.
    (``bytes.find`` and a look at each side: a regular expression with look-around
    took minutes over every value of a run.)"""
    needle = value.encode()
    start = data.find(needle)
    while start != -1:
        end = start + len(needle)
        before = data[start - 1] if start > 0 else None
        after = data[end] if end < len(data) else None
        if before not in BASE64_CHARACTERS and after not in BASE64_CHARACTERS:
            return True
        start = data.find(needle, start + 1)
    return False


def test_a_value_counts_as_published_when_it_stands_apart_from_base64() -> None:
    assert standing("Smith", b'{"note":"Mr Smith said"}')
    assert standing("Smith", b"Smith")
    assert standing("Smith", b"xSmithx, then Smith.")  # the second one stands apart
    assert standing("Mr Smith", b"\x00Mr Smith\x02")
    assert not standing("Smith", b"aGVsbG8Smithd29ybGQ=")  # inside a pseudonym or key
    assert not standing("Smith", b"Smith_ -Smith+ =Smith/")
    assert not standing("Jones", b'{"note":"Mr Smith said"}')


@pytest.mark.parametrize("sample", [p.stem for p in SAMPLES])
def test_every_sample_config_runs_end_to_end(
    kafka_admin: ClientSettings, principals: Principals, home: Path, sample: str
) -> None:
    setup = prepare(home, sample)
    assert setup.topic.startswith(principals.names.prefix)
    connector = new_connector(setup, principals)
    try:
        summary = connector.run()
    finally:
        connector.close()
    assert summary.clean, summary.lines(dry_run=False)
    rows = source_rows(setup, sample)
    assert summary.read == summary.published == rows > 0
    # The police extract marks some crimes withdrawn; the youth service logs deletions.
    assert (summary.retractions > 0) == (sample in ("wmp-crime", "bcc-youth-referrals"))
    records = rows - summary.retractions

    messages = read_all(kafka_admin, [setup.topic])
    assert len(messages) == records
    reader = EventReader(
        AvroCodec(schemas.current(), schemas.released().values()), Verifier(setup.registry)
    )
    events = [reader.read(m.value, authority=setup.config.authority) for m in messages]
    assert len({e.event_id for e in events}) == records
    assert {e.record_type for e in events} == {setup.config.record_type}
    for message, event in zip(messages, events, strict=True):
        assert dict(message.headers)["event_id"].decode() == event.event_id
    # Each Retraction is on the authority's retraction topic, verifies with its key,
    # withdraws an event this run published, and is keyed by its own id.
    retraction_topic = principals.names.raw(setup.config.authority, "RETRACTION")
    withdrawals = read_all(kafka_admin, [retraction_topic])
    assert len(withdrawals) == summary.retractions
    retractions = [reader.read(m.value, authority=setup.config.authority) for m in withdrawals]
    published_ids = {e.event_id for e in events}
    for message, retraction in zip(withdrawals, retractions, strict=True):
        assert retraction.record_type == "Retraction"
        assert str(retraction.record["retracted_event_id"]) in published_ids
        assert message.key.decode() == retraction.event_id
        assert dict(message.headers)["event_id"].decode() == retraction.event_id
    messages += withdrawals
    # The hub made the raw topic (a connector may only write it), keeping data
    # indefinitely (not the broker's 7 days).
    wanted = raw_topic_configs(TopicKind.RAW, None)
    found = topic_configs(kafka_admin, setup.topic)
    assert {key: found.get(key) for key in wanted} == wanted
    assert found["retention.ms"] == found["retention.bytes"] == "-1"

    # Nothing that identifies a person, and no free text, crossed the wire. A value
    # counts as found when it stands apart from letters, digits and the base64
    # alphabet: a surname that happens to sit inside a random pseudonym or key
    # (one run in a few hundred) is not a leak; the same surname in text is.
    published = b"".join(m.value + (m.key or b"") for m in messages)
    leaked = sorted(v for v in never_shared_values(setup, sample) if standing(v, published))
    assert leaked == []

    # A second run publishes nothing new.
    again = new_connector(setup, principals)
    try:
        second = again.run()
    finally:
        again.close()
    assert second.published == 0
    if sample == "bcc-youth-referrals":  # SQL: only rows at the watermark are read again
        assert 0 < second.already_published < rows
    else:
        assert second.already_published == rows
    assert len(read_all(kafka_admin, [setup.topic])) == records
    assert len(read_all(kafka_admin, [retraction_topic])) == summary.retractions


def test_sigkill_mid_run_then_rerun_publishes_each_event_once(
    kafka_admin: ClientSettings, principals: Principals, home: Path
) -> None:
    """The connector cannot read its topic: after the kill, the rerun works out
    which rows of the interrupted batch landed from the end offsets alone."""
    setup = prepare(home, "wmp-crime", batch_size=10)
    command = connector_command(setup, *credentials(setup, principals))
    env = dict(os.environ)
    rows = source_rows(setup, "wmp-crime")
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while first.poll() is None and time.monotonic() < deadline:
            if message_count(kafka_admin, [setup.topic]) >= 100:
                break
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(30)
    interrupted = len(read_all(kafka_admin, [setup.topic]))
    assert first.returncode == -signal.SIGKILL, "the connector finished before it was killed"
    assert 0 < interrupted < rows

    # Rerun with ordinary batches (small ones only made the kill land mid-run).
    raw = yaml.safe_load(setup.config_file.read_text(encoding="utf-8"))
    raw["batch_size"] = 500
    setup.config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stderr
    assert "do not fit" not in second.stderr  # recovered from the offsets, not sent again
    retraction_topic = principals.names.raw("wmp", "RETRACTION")
    messages = read_all(kafka_admin, [setup.topic, retraction_topic])
    ids = [dict(m.headers)["event_id"] for m in messages]
    assert len(ids) == rows
    assert len(set(ids)) == rows


BAD_ROWS = [
    # (cells to change in a good row, expected field, expected words in the reason)
    ({"CommittedDateTime": "31/09/2026 12:00"}, "occurred_at", "not a date in the format"),
    ({"SuspectAge": "about twenty"}, "suspect_age_band", "not a whole number"),
    ({"HOOffenceCode": "=cmd|' /C calc'!A0"}, "offence_code_ho", "spreadsheet formula"),
    ({"OffenceGroup": "Shoplifting"}, "offence_group", "is not one of"),
    ({"LSOA21": "E01000001"}, "geo", "not in the geography lookup"),
    ({"HOOffenceCode": "8" * 300}, "offence_code_ho", "characters long"),
]


def test_malformed_rows_are_rejected_with_reasons_and_good_rows_still_publish(
    kafka_admin: ClientSettings, principals: Principals, home: Path
) -> None:
    good_file = home / "synthetic" / "wmp_crime.csv"
    lines = good_file.read_text(encoding="utf-8").splitlines()
    header = lines[1].split(",")
    good = [next(csv.reader([line])) for line in lines[2:7]]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in good:
        writer.writerow(row)
    for changes, _, _ in BAD_ROWS:
        bad = dict(zip(header, good[0], strict=True))
        bad.update(changes)
        bad["CrimeReference"] = f"BAD-{uuid.uuid4().hex[:6]}"
        writer.writerow([bad[h] for h in header])
    writer.writerow(good[1][:5])  # a short row: missing columns
    undecodable = ",".join(f'"{cell}"' for cell in good[2][:-1]).encode("utf-8") + b",caf\xe9\n"
    bad_file = home / "bad.csv"
    bad_file.write_bytes(out.getvalue().encode("utf-8") + undecodable)
    setup = prepare(home, "wmp-crime", source=bad_file)

    result = invoke_run(setup, *credentials(setup, principals))
    assert result.exit_code == 4, result.output
    assert "rejected: 8" in result.output
    reject_files = list((setup.config.state_dir / "rejects").glob("*.jsonl"))
    (reject_file,) = reject_files
    entries = [json.loads(line) for line in reject_file.read_text(encoding="utf-8").splitlines()]
    by_row = {entry["row"]: entry for entry in entries}
    for offset, (_, field, words) in enumerate(BAD_ROWS):
        entry = by_row[2 + len(good) + offset]  # line numbers: header is line 1
        assert entry["file"] == str(bad_file)
        assert entry["field"] == field
        assert words in entry["reason"]
        assert entry["raw"]["CrimeReference"].startswith("BAD-")
    short = by_row[2 + len(good) + len(BAD_ROWS)]
    assert short["field"] == "(row)"
    assert "expected" in short["reason"]
    encoding = by_row[3 + len(good) + len(BAD_ROWS)]
    assert (encoding["field"], encoding["reason"]) == ("MOText", "not valid utf-8 text")
    assert len(read_all(kafka_admin, [setup.topic])) == len(good)


@pytest.mark.parametrize(
    ("content", "exit_code", "words"),
    [
        (b"", 4, "the file is empty"),
        (b"CrimeReference,RecordVersion\n", 4, "missing column(s)"),
    ],
)
def test_unusable_files_are_reported_and_stop_nothing(
    principals: Principals, home: Path, content: bytes, exit_code: int, words: str
) -> None:
    path = home / "unusable.csv"
    path.write_bytes(content)
    setup = prepare(home, "wmp-crime", source=path)
    result = invoke_run(setup, *credentials(setup, principals))
    assert result.exit_code == exit_code, result.output
    assert words in result.output
    assert str(path) in result.output


@pytest.mark.parametrize("kept_by", ["authority", "hub"])
def test_a_header_only_file_publishes_nothing_and_succeeds(
    principals: Principals, home: Path, kept_by: str
) -> None:
    path = home / "header-only.csv"
    header = (home / "synthetic" / "wmp_crime.csv").read_text(encoding="utf-8").splitlines()[1]
    path.write_text(header + "\n", encoding="utf-8")
    setup = prepare(home, "wmp-crime", source=path)
    # No --credentials: the file the hub's operator handed to the authority, in
    # its own folder; else the namespaced principal's file in the hub's state
    # folder, as `svdhub access apply` writes it on a machine that runs both.
    if kept_by == "authority":
        default = authority_home(setup.config.authority) / "kafka.properties"
    else:
        hub = Path(os.environ["SVDHUB_HOME"])
        default = hub / "access" / f"{principals.name(setup.principal)}.properties"
    default.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(principals.file(setup.principal), default)
    result = invoke_run(setup)
    assert result.exit_code == 0, result.output
    assert "rows read: 0" in result.output


def test_a_connector_may_write_only_its_own_authoritys_topics(
    kafka_admin: ClientSettings, principals: Principals, home: Path
) -> None:
    """The police connector's config with the ambulance service's credentials:
    Kafka refuses, and the error says what to ask the hub for."""
    setup = prepare(home, "wmp-crime")
    other = ["--credentials", str(principals.file("connector-wmas"))]
    result = invoke_run(setup, *other)
    assert result.exit_code == 1, result.output
    assert f"Kafka refused User:{principals.name('connector-wmas')} access" in result.output
    assert setup.topic in result.output
    assert message_count(kafka_admin, [setup.topic]) == 0


def test_missing_credentials_fail_clearly(home: Path, names: TopicNames) -> None:
    setup = prepare(home, "wmp-crime")
    result = invoke_run(setup)
    assert result.exit_code == 1, result.output
    assert "no Kafka credentials" in result.output
    assert f"{names.namespace}.connector-wmp.properties" in result.output


def test_dry_run_prints_pseudonymised_records_and_publishes_nothing(home: Path) -> None:
    setup = prepare(home, "uhb-ed-istv")
    result = invoke_run(setup, "--dry-run")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert records and all(r["topic"] == setup.topic for r in records)
    text = result.stdout
    for secret in sorted(never_shared_values(setup, "uhb-ed-istv"))[:200]:
        assert secret not in text
    assert not (setup.config.state_dir / "rejects").exists()


def test_unreachable_kafka_fails_clearly(home: Path, tmp_path: Path) -> None:
    setup = prepare(home, "wmas-callouts")
    settings = tmp_path / "connector-wmas.properties"
    ClientSettings("127.0.0.1:9", "connector-wmas", "secret", tmp_path / "ca.pem").save(settings)
    result = subprocess.run(
        connector_command(
            setup, "--credentials", str(settings), "--bootstrap", f"127.0.0.1:{free_port()}"
        ),
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "cannot connect to Kafka at 127.0.0.1:" in result.stderr


def test_follow_publishes_rows_added_later_and_stops_on_ctrl_c(
    kafka_admin: ClientSettings, principals: Principals, home: Path
) -> None:
    lines = (home / "synthetic" / "wmas_callouts.csv").read_text(encoding="utf-8").splitlines()
    extract = home / "growing.csv"
    extract.write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")  # comment, header, 10 rows
    setup = prepare(home, "wmas-callouts", source=extract, poll_seconds=1)
    follower = subprocess.Popen(
        connector_command(setup, "--follow", *credentials(setup, principals)),
        env=dict(os.environ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: message_count(kafka_admin, [setup.topic]) == 10)
        with extract.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines[12:17]) + "\n")
        wait_for(lambda: message_count(kafka_admin, [setup.topic]) == 15)
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert follower.returncode == 0, stderr
    assert len(read_all(kafka_admin, [setup.topic])) == 15


def wait_for(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_sql_source_on_postgresql_reads_incrementally(
    *,
    kafka_admin: ClientSettings,
    principals: Principals,
    database_url: str,
    home: Path,
    workers: int,
) -> None:
    """The youth-service referrals, copied into a PostgreSQL table, through the
    same config; mapped in the connector's process, and in 2 workers."""
    schema = f"youth_{uuid.uuid4().hex[:8]}"
    with sqlite3.connect(home / "synthetic" / "youth_service.sqlite") as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM referrals ORDER BY updated_at")]
    columns = list(rows[0])
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            text(
                f'CREATE TABLE "{schema}".referrals ('
                + ", ".join(f"{c} TEXT" for c in columns)
                + ")"
            )
        )
        insert = text(
            f'INSERT INTO "{schema}".referrals VALUES (' + ", ".join(f":{c}" for c in columns) + ")"
        )
        conn.execute(
            insert, [{k: None if v is None else str(v) for k, v in r.items()} for r in rows[:100]]
        )
    try:
        url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        setup = prepare(home, "bcc-youth-referrals", source=None)
        raw = yaml.safe_load(setup.config_file.read_text(encoding="utf-8"))
        raw["source"]["sql"]["url"] = url.render_as_string(hide_password=False)
        setup.config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
        config = ConnectorConfig.load(setup.config_file)

        def run_once() -> Any:
            connector = Connector(config, principals.settings(setup.principal), workers=workers)
            try:
                return connector.run()
            finally:
                connector.close()

        first = run_once()
        assert (first.published, first.rejected_total) == (100, 0)
        with engine.begin() as conn:
            conn.execute(
                insert,
                [{k: None if v is None else str(v) for k, v in r.items()} for r in rows[100:]],
            )
        second = run_once()
        assert second.published == len(rows) - 100
        assert second.already_published >= 1  # rows at the watermark are read again, not resent
        assert message_count(kafka_admin, [setup.topic]) == len(rows)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_retractions_are_recovered_after_a_crash_like_other_events(
    kafka_admin: ClientSettings,
    principals: Principals,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after Kafka acknowledged a batch of Retractions but before the
    checkpoint finished it: the rerun finds them on the retraction topic from
    its end offsets, and sends none of them again."""
    setup = prepare(home, "wmp-crime")
    retraction_topic = principals.names.raw("wmp", "RETRACTION")
    finish = Checkpoint.finish_batch
    pending: list[int] = []

    def crash_on_retractions(
        checkpoint: Checkpoint, batch: int, watermark: tuple[str, str] | None = None
    ) -> None:
        topics = {b.batch: b.topic for b in checkpoint.pending_batches()}
        if topics[batch] == retraction_topic:
            pending.append(batch)
            raise KeyboardInterrupt  # as if killed
        finish(checkpoint, batch, watermark)

    monkeypatch.setattr(Checkpoint, "finish_batch", crash_on_retractions)
    connector = new_connector(setup, principals)
    try:
        with pytest.raises(KeyboardInterrupt):
            connector.run()
    finally:
        connector.close()
    assert pending
    landed = message_count(kafka_admin, [retraction_topic])
    assert landed > 0
    monkeypatch.setattr(Checkpoint, "finish_batch", finish)

    again = new_connector(setup, principals)
    try:
        summary = again.run()
    finally:
        again.close()
    assert summary.clean, summary.lines(dry_run=False)
    assert summary.recovered == landed
    withdrawals = read_all(kafka_admin, [retraction_topic])
    ids = [dict(m.headers)["event_id"] for m in withdrawals]
    assert len(ids) == len(set(ids))  # each Retraction once
    rows = source_rows(setup, "wmp-crime")
    assert message_count(kafka_admin, [setup.topic]) + len(ids) == rows


def test_deleted_rows_added_later_are_retracted_on_the_next_run(
    kafka_admin: ClientSettings, principals: Principals, home: Path, tmp_path: Path
) -> None:
    """The deleted_rows query reads from its own watermark: a second run
    publishes only the deletions logged since, and never a Retraction twice."""
    database = tmp_path / "youth_service.sqlite"
    shutil.copyfile(home / "synthetic" / "youth_service.sqlite", database)
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM referral_deletions")
    setup = prepare(home, "bcc-youth-referrals")
    raw = yaml.safe_load(setup.config_file.read_text(encoding="utf-8"))
    raw["source"]["sql"]["url"] = f"sqlite:///{database}"
    setup.config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    config = ConnectorConfig.load(setup.config_file)
    retraction_topic = principals.names.raw("bcc-youth", "RETRACTION")

    def run_once() -> Any:
        connector = Connector(config, principals.settings(setup.principal))
        try:
            return connector.run()
        finally:
            connector.close()

    first = run_once()
    assert first.retractions == 0
    with sqlite3.connect(database) as db:
        ids = [r[0] for r in db.execute("SELECT referral_id FROM referrals LIMIT 3")]
        db.executemany(
            "INSERT INTO referral_deletions VALUES (?, ?, ?)",
            [
                (ids[0], "2027-01-01 09:00:00", "duplicate"),
                (ids[1], "2027-01-02 09:00:00", "consent withdrawn"),
            ],
        )
    second = run_once()
    assert (second.published, second.retractions) == (2, 2)
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO referral_deletions VALUES (?, '2027-01-03 09:00:00', 'why not')", ids[2:]
        )
    third = run_once()  # the deletion at the watermark is read again, not resent
    assert third.published == 0
    assert third.already_published == second.already_published + 1
    assert third.rejected_total == 1  # 'why not' is not a reason the config maps
    (reject_file,) = (setup.config.state_dir / "rejects").glob("*.jsonl")
    entries = [json.loads(line) for line in reject_file.read_text(encoding="utf-8").splitlines()]
    assert [(e["file"], e["row"], e["field"]) for e in entries] == [
        (f"sql:sqlite:///{database}#deleted_rows", 2, "reason")
    ]
    assert "'why not' is not one of" in entries[0]["reason"]
    reader = EventReader(
        AvroCodec(schemas.current(), schemas.released().values()), Verifier(setup.registry)
    )
    events = [reader.read(m.value, "bcc-youth") for m in read_all(kafka_admin, [retraction_topic])]
    assert sorted(e.record["reason"] for e in events) == ["CONSENT_WITHDRAWN", "DUPLICATE"]


def test_a_row_changed_in_place_is_published_as_the_next_version(
    kafka_admin: ClientSettings, principals: Principals, home: Path, tmp_path: Path
) -> None:
    """A source without a version column (record_version: {content: true}):
    run, edit one row in place, run again. The edited row goes out as version
    2 superseding version 1; the rest are already published."""
    original = (home / "synthetic" / "wmp_crime.csv").read_text(encoding="utf-8").splitlines()
    lines = [line for line in original if not line.startswith("#")]  # the SYNTHETIC banner
    source = tmp_path / "crime.csv"
    source.write_text("\n".join(lines[:12]) + "\n", encoding="utf-8")
    setup = prepare(home, "wmp-crime", source=source, record_version={"content": True})
    first = invoke_run(setup, *credentials(setup, principals))
    assert first.exit_code in (0, 4), first.output
    published = read_all(kafka_admin, [setup.topic])
    assert published
    rows = list(csv.DictReader(io.StringIO(source.read_text(encoding="utf-8"))))
    edited_at = next(n for n, row in enumerate(rows) if row["Status"] == "Active" and row["LSOA21"])
    rows[edited_at]["WeaponType"] = "Firearm"
    with source.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    second = invoke_run(setup, *credentials(setup, principals))
    assert second.exit_code in (0, 4), second.output
    assert "published 1," in second.output, second.output
    reader = EventReader(
        AvroCodec(schemas.current(), schemas.released().values()), Verifier(setup.registry)
    )
    events = [reader.read(m.value) for m in read_all(kafka_admin, [setup.topic])]
    assert len(events) == len(published) + 1
    (latest,) = [e for e in events if e.envelope["supersedes"] is not None]
    assert latest.record["firearm_flag"] is True
    superseded = str(latest.envelope["supersedes"])
    (earlier,) = [e for e in events if e.event_id == superseded]
    assert earlier.record["incident_pseudo_id"] == latest.record["incident_pseudo_id"]
    assert earlier.record["firearm_flag"] is not True
