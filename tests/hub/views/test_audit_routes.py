"""The audit ledger over HTTP: checkpoints for anyone, consistency proofs for
token holders, inclusion proofs for IG leads only (each only its party's
decisions; analysts never, as records and positions would link recipients'
streams), and cosignatures from partners'
witnesses, which must be by a configured witness over a checkpoint this log
issued. The ledger is SQLite, built as the witness tests build it."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select
from typer.testing import CliRunner

from hub.audit import merkle, proofs
from hub.audit.checkpoints import Checkpoint
from hub.audit.cli import app as audit_app
from hub.audit.ledger import Ledger, cosignatures, load_checkpoints
from hub.audit.note import (
    COSIGNATURE_V1,
    CheckpointBody,
    Note,
    Signature,
    cosign,
    cosigned_at,
    key_id,
)
from hub.audit.verify import check_proof
from hub.audit.witness import HttpLog, WitnessError
from hub.views import api_cli
from hub.views.api import create_app
from hub.views.audit_routes import MAX_COSIGNATURE_BYTES, NO_DECISION, NO_SHARE
from hub.views.tokens import IG, Tokens, issue
from tests.fixtures.records import HUB_KEYS, an_id, audit_record
from tests.fixtures.services import free_port
from tests.hub.audit.test_ledger import SIGNER, messages
from tests.hub.audit.test_witness import ORIGIN, Partner, ledger_at, quorum_of, verifier

AUDIT = "/api/v1/audit"
RECIPIENTS = ["vrp", "csp-birmingham", "csp-coventry"]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Engine]:
    """45 decisions, checkpointed at 14, 28, 42 and 45 rows."""
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger_at(engine, 45)
    yield engine
    engine.dispose()


#: Parties with an IG lead's token (``ig:<party>`` in the tokens fixture).
LEADS = [*RECIPIENTS, "wmp", "uhb-ed"]


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    """Analysts' tokens by recipient, and IG leads' as ``ig:<party>``."""
    made = issue(tmp_path / "tokens.yaml", RECIPIENTS)
    leads = issue(tmp_path / "tokens.yaml", LEADS, IG)
    return {**made, **{f"ig:{party}": token for party, token in leads.items()}}


@pytest.fixture
def partners(tmp_path: Path) -> tuple[Partner, Partner]:
    return (
        Partner("witness.wmp.example/svdhub", tmp_path / "wmp"),
        Partner("witness.uhb.example/svdhub", tmp_path / "uhb"),
    )


def make_app(tmp_path: Path, ledger: Engine | None, witnesses: tuple[Partner, ...] = ()) -> FastAPI:
    return create_app(
        create_engine("sqlite://"),
        Tokens.load(tmp_path / "tokens.yaml"),
        ledger=ledger,
        witnesses=[p.witness.public_key for p in witnesses],
    )


@pytest.fixture
def client(
    tmp_path: Path, ledger: Engine, tokens: dict[str, str], partners: tuple[Partner, Partner]
) -> TestClient:
    return TestClient(make_app(tmp_path, ledger, partners))


@pytest.fixture
def server(
    tmp_path: Path, ledger: Engine, tokens: dict[str, str], partners: tuple[Partner, Partner]
) -> Iterator[str]:
    """The API on a real port, for witnesses that speak HTTP (urllib)."""
    port = free_port()
    config = uvicorn.Config(
        make_app(tmp_path, ledger, partners), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise AssertionError("the API did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/api/v1"
    running.should_exit = True
    thread.join(timeout=10)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def checkpoint_of(client: TestClient, size: int) -> Checkpoint:
    return Checkpoint.from_note(client.get(f"{AUDIT}/checkpoint/{size}").text, verifier())


def stored_lines(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cosignatures)).scalar() or 0)


def latest_note(engine: Engine) -> str:
    return load_checkpoints(engine)[-1].to_note()


def cosigned(note_text: str, name: str, key: Ed25519PrivateKey) -> str:
    note = Note.parse(note_text)
    return str(note.with_signature(cosign(note.text, name, key, int(time.time()))))


def post(client: TestClient, body: str | bytes) -> Any:
    return client.post(
        f"{AUDIT}/cosignature",
        content=body.encode() if isinstance(body, str) else body,
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )


def grow(engine: Engine, first: int, count: int, *, checkpoint: bool = True) -> None:
    ledger = Ledger(
        engine, SIGNER, every_records=1000, every_seconds=3600, keys=HUB_KEYS, origin=ORIGIN
    )
    ledger.apply(messages(first, count))
    if checkpoint:
        ledger.checkpoint()


# ---------------------------------------------------------------------- checkpoints


def test_the_checkpoint_needs_no_token_and_is_what_the_cli_prints(
    client: TestClient, ledger: Engine, partners: tuple[Partner, Partner]
) -> None:
    reply = post(client, cosigned(latest_note(ledger), partners[0].name, partners[0].key))
    assert reply.status_code == 200, reply.text
    got = client.get(f"{AUDIT}/checkpoint")  # no Authorization header
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    printed = CliRunner().invoke(audit_app, ["checkpoint", "--database", str(ledger.url)])
    assert printed.exit_code == 0, printed.output
    assert got.text == printed.stdout
    # A C2SP checkpoint note: origin, size, base64 root, extension; a blank line;
    # the log's signature and the witness's cosignature.
    note = Note.parse(got.text)
    body = CheckpointBody.parse(note.text)
    assert (body.origin, body.size, len(body.root)) == (ORIGIN, 45, 32)
    assert note.text.splitlines()[3].startswith("issued_at ")
    assert [s.name for s in note.signatures] == [ORIGIN, partners[0].name]
    assert all(line.startswith("\u2014 ") for line in got.text.split("\n\n", 1)[1].splitlines())
    assert note.signed_by(verifier())
    assert cosigned_at(note, partners[0].name, partners[0].public) is not None


def test_a_checkpoint_by_size_and_as_json(client: TestClient, ledger: Engine) -> None:
    stored = {c.tree_size: c for c in load_checkpoints(ledger)}
    assert sorted(stored) == [14, 28, 42, 45]
    reply = client.get(f"{AUDIT}/checkpoint/14")
    assert reply.status_code == 200
    assert reply.text == stored[14].to_note()
    assert checkpoint_of(client, 28).root == stored[28].root
    for path in (f"{AUDIT}/checkpoint?format=json", f"{AUDIT}/checkpoint/42?format=json"):
        got = client.get(path)
        assert got.headers["content-type"] == "application/json"
        found = Checkpoint.from_dict(got.json())
        found.verify(stored[45].public_key)
        assert found == stored[found.tree_size]
    assert client.get(f"{AUDIT}/checkpoint/42?format=json").json()["tree_size"] == 42


@pytest.mark.parametrize("size", ["15", "0", "-1", "46", str(2**63), str(2**80)])
def test_no_checkpoint_of_that_size_is_a_404(client: TestClient, size: str) -> None:
    for query in ("", "?format=json"):
        assert client.get(f"{AUDIT}/checkpoint/{size}{query}").status_code == 404


def test_malformed_checkpoint_requests_are_refused(client: TestClient) -> None:
    assert client.get(f"{AUDIT}/checkpoint/abc").status_code == 422
    assert client.get(f"{AUDIT}/checkpoint?format=xml").status_code == 422


def test_a_checkpoint_from_before_the_note_format_is_served_only_as_json(
    tmp_path: Path, tokens: dict[str, str]
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    ledger_at(engine, 20)
    legacy = Checkpoint(20, "ab" * 32, "2026-01-01T00:00:00Z", "hub-audit-1", "AA==", "AA==")
    with engine.begin() as conn:
        conn.execute(
            cosignatures.insert().values(tree_size=1, line="x", received_at="now")
        )  # a stray line for a size with no checkpoint: never shown
        conn.exec_driver_sql(
            "INSERT INTO audit_checkpoints (tree_size, root, issued_at, key_id, public_key, "
            "signature, origin) VALUES (99, ?, ?, ?, ?, ?, NULL)",
            (legacy.root, legacy.issued_at, legacy.key_id, legacy.public_key, legacy.signature),
        )
    client = TestClient(make_app(tmp_path, engine))
    latest = client.get(f"{AUDIT}/checkpoint")
    assert CheckpointBody.parse(Note.parse(latest.text).text).size == 20  # the newest note
    refused = client.get(f"{AUDIT}/checkpoint/99")
    assert refused.status_code == 404 and "predates the note format" in refused.json()["detail"]
    assert client.get(f"{AUDIT}/checkpoint/99?format=json").json()["origin"] is None


# ---------------------------------------------------------------------- consistency


def test_a_consistency_proof_verifies_between_two_checkpoints(
    client: TestClient, tokens: dict[str, str]
) -> None:
    old, new = checkpoint_of(client, 14), checkpoint_of(client, 45)
    reply = client.get(f"{AUDIT}/proof/consistency?from=14&to=45", headers=auth(tokens["vrp"]))
    assert reply.status_code == 200
    data = reply.json()
    assert (data["format"], data["from"], data["to"]) == (proofs.CONSISTENCY_FORMAT, 14, 45)
    nodes, _, _ = proofs.parse(reply.text)
    assert merkle.verify_consistency(
        14, 45, bytes.fromhex(old.root), bytes.fromhex(new.root), nodes
    )
    assert "append-only" in proofs.check_consistency(old, new, reply.text, old.public_key)
    lines = client.get(
        f"{AUDIT}/proof/consistency?from=14&to=45&format=lines", headers=auth(tokens["vrp"])
    )
    assert lines.headers["content-type"] == "text/plain; charset=utf-8"
    assert lines.text == proofs.to_lines(nodes)
    # A proof between a checkpoint and itself is empty, and valid.
    same = client.get(f"{AUDIT}/proof/consistency?from=45&to=45", headers=auth(tokens["vrp"]))
    assert same.json()["proof"] == []


def test_a_consistency_proof_needs_a_token(client: TestClient) -> None:
    for headers in ({}, auth("guess"), {"Authorization": "Basic dnJwOg=="}):
        reply = client.get(f"{AUDIT}/proof/consistency?from=14&to=45", headers=headers)
        assert reply.status_code == 401
        assert "proof" not in reply.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("from=0&to=45", 400),
        ("from=-3&to=45", 400),
        ("from=30&to=14", 400),
        ("from=14&to=46", 404),  # beyond the ledger
        (f"from=14&to={2**63}", 404),
        (f"from=14&to={2**80}", 404),
        ("from=14", 422),
        ("from=a&to=45", 422),
        ("from=14&to=45&format=xml", 422),
    ],
)
def test_bad_consistency_sizes_are_refused(
    client: TestClient, tokens: dict[str, str], query: str, status: int
) -> None:
    reply = client.get(f"{AUDIT}/proof/consistency?{query}", headers=auth(tokens["vrp"]))
    assert reply.status_code == status, reply.text
    if status == 400:
        assert "0 < from <= to" in reply.json()["detail"]


# ---------------------------------------------------------------------- inclusion


def test_an_inclusion_proof_of_a_recipients_own_decision_checks(
    client: TestClient, tokens: dict[str, str]
) -> None:
    decision = audit_record(1)  # wmp -> csp-birmingham
    assert (decision.source_authority, decision.recipient) == ("wmp", "csp-birmingham")
    for lead in ("ig:wmp", "ig:csp-birmingham"):  # who disclosed it, who received it
        reply = client.get(
            f"{AUDIT}/proof/inclusion?decision_id={decision.decision_id}",
            headers=auth(tokens[lead]),
        )
        assert reply.status_code == 200, reply.text
    assert reply.status_code == 200, reply.text
    proof = reply.json()
    assert proof["tree_size"] == 45
    said = check_proof(
        proof, checkpoint_of(client, 45), base64.b64encode(SIGNER.public_key().raw_bytes()).decode()
    )
    assert said.startswith(f"decision {decision.decision_id} (allow, wmp -> csp-birmingham)")
    older = client.get(
        f"{AUDIT}/proof/inclusion?decision_id={decision.decision_id}&size=14",
        headers=auth(tokens["ig:csp-birmingham"]),
    ).json()
    assert older["tree_size"] == 14
    check_proof(older, checkpoint_of(client, 14))


def test_a_recipient_finds_its_proof_by_the_share_id_it_holds(
    client: TestClient, tokens: dict[str, str]
) -> None:
    decision = audit_record(5)  # about csp-coventry, allowed
    assert decision.shared_ids is not None
    share_id = decision.shared_ids.share_id
    reply = client.get(
        f"{AUDIT}/proof/inclusion?share_id={share_id}", headers=auth(tokens["ig:csp-coventry"])
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["decision_id"] == decision.decision_id
    check_proof(reply.json(), checkpoint_of(client, 45))


def same_answer(first: Any, second: Any) -> None:
    assert first.status_code == second.status_code == 404
    assert first.content == second.content
    assert first.headers.get("content-type") == second.headers.get("content-type")
    assert first.headers.get("content-length") == second.headers.get("content-length")


def test_another_recipients_decision_is_answered_as_one_that_does_not_exist(
    client: TestClient, ledger: Engine, tokens: dict[str, str]
) -> None:
    grow(ledger, 45, 3, checkpoint=False)  # rows 45-47: no checkpoint covers them yet
    vrp = auth(tokens["ig:vrp"])
    unknown = client.get(f"{AUDIT}/proof/inclusion?decision_id={an_id('no such')}", headers=vrp)
    assert unknown.json() == {"detail": NO_DECISION}
    for n, size in ((1, ""), (2, ""), (1, "&size=14"), (1, "&size=15"), (46, "")):
        decision = audit_record(n)
        assert decision.recipient != "vrp"
        foreign = client.get(
            f"{AUDIT}/proof/inclusion?decision_id={decision.decision_id}{size}", headers=vrp
        )
        same_answer(foreign, unknown)
        assert decision.decision_id not in foreign.text
    # Its own recipient is told why there is no proof yet.
    own = client.get(
        f"{AUDIT}/proof/inclusion?decision_id={audit_record(46).decision_id}",
        headers=auth(tokens["ig:csp-birmingham"]),
    )
    assert own.status_code == 404 and "not covered by a checkpoint yet" in own.json()["detail"]
    # The same by share id: another recipient's share is an unknown share.
    shared = audit_record(4).shared_ids
    assert shared is not None and audit_record(4).recipient == "csp-birmingham"
    nobody = client.get(f"{AUDIT}/proof/inclusion?share_id={an_id('no share')}", headers=vrp)
    assert nobody.json() == {"detail": NO_SHARE}
    for token in (tokens["ig:vrp"], tokens["ig:csp-coventry"], tokens["ig:uhb-ed"]):
        same_answer(
            client.get(f"{AUDIT}/proof/inclusion?share_id={shared.share_id}", headers=auth(token)),
            nobody,
        )
    # Another id the share carries is not its share id.
    by_event = client.get(
        f"{AUDIT}/proof/inclusion?share_id={shared.event_id}",
        headers=auth(tokens["ig:csp-birmingham"]),
    )
    same_answer(by_event, nobody)


def test_inclusion_proofs_need_a_token_and_one_well_formed_id(
    client: TestClient, tokens: dict[str, str]
) -> None:
    decision_id = audit_record(1).decision_id  # wmp -> csp-birmingham
    share_id = audit_record(1).shared_ids.share_id  # type: ignore[union-attr]
    # No token, a wrong one, and the recipient's own analysts' token: an audit
    # record and its position would link its stream with other recipients'.
    for headers in ({}, auth("guess"), auth(tokens["csp-birmingham"])):
        for query in (f"decision_id={decision_id}", f"share_id={share_id}"):
            reply = client.get(f"{AUDIT}/proof/inclusion?{query}", headers=headers)
            assert reply.status_code == 401, reply.text
            assert "record" not in reply.text and "audit_path" not in reply.text
    mine = auth(tokens["ig:csp-birmingham"])
    share_id = an_id("x")
    for query, status in (
        ("", 400),
        (f"decision_id={decision_id}&share_id={share_id}", 400),
        ("share_id=%25%27%20OR%201%3D1", 400),  # "%' OR 1=1": not an id a share carries
        ("share_id=%25", 400),
        (f"decision_id={'a' * 129}", 422),
        (f"decision_id={decision_id}&size=abc", 422),
    ):
        assert client.get(f"{AUDIT}/proof/inclusion?{query}", headers=mine).status_code == status


# ---------------------------------------------------------------------- cosignatures


def test_a_cosignature_is_stored_once_and_shown_with_the_checkpoint(
    client: TestClient, ledger: Engine, partners: tuple[Partner, Partner]
) -> None:
    wmp = partners[0]
    body = cosigned(latest_note(ledger), wmp.name, wmp.key)
    first = post(client, body)
    assert first.json() == {"tree_size": 45, "stored": [wmp.name], "already_held": []}
    replayed = post(client, body)
    assert replayed.status_code == 200
    assert replayed.json() == {"tree_size": 45, "stored": [], "already_held": [wmp.name]}
    # A fresh cosignature by the same witness of the same checkpoint adds nothing.
    time.sleep(1.01)
    assert post(client, cosigned(latest_note(ledger), wmp.name, wmp.key)).json()["stored"] == []
    assert stored_lines(ledger) == 1
    note = Note.parse(client.get(f"{AUDIT}/checkpoint").text)
    assert cosigned_at(note, wmp.name, wmp.public) is not None
    # Both witnesses in one note: only the new one is stored.
    both = cosigned(body, partners[1].name, partners[1].key)
    assert post(client, both).json()["stored"] == [partners[1].name]
    assert stored_lines(ledger) == 2
    assert quorum_of(ledger, partners, 45) == {p.name for p in partners}


def test_a_forged_cosignature_is_refused_and_nothing_is_stored(
    client: TestClient, ledger: Engine, partners: tuple[Partner, Partner]
) -> None:
    wmp = partners[0]
    note = latest_note(ledger)
    text = Note.parse(note).text
    stranger = Ed25519PrivateKey.generate()
    # Another key under a configured witness's name.
    wrong_key = post(client, cosigned(note, wmp.name, stranger))
    assert wrong_key.status_code == 403
    assert "not signed with the key configured for it" in wrong_key.json()["detail"]
    # The configured witness's key ID, with a signature that is not its.
    garbage = Signature(wmp.name, key_id(wmp.name, COSIGNATURE_V1, wmp.public), bytes(72))
    bad = post(client, str(Note.parse(note).with_signature(garbage)))
    assert bad.status_code == 403 and "does not verify" in bad.json()["detail"]
    # Its signature over another timestamp than the one it names.
    real = cosign(text, wmp.name, wmp.key, 1_000)
    shifted = Signature(real.name, real.key_id, (2_000).to_bytes(8, "big") + real.signature[8:])
    assert post(client, str(Note.parse(note).with_signature(shifted))).status_code == 403
    # A witness nobody configured, and the log's own signature alone.
    unknown = post(client, cosigned(note, "witness.evil.example/svdhub", stranger))
    assert unknown.status_code == 403
    assert "no line is signed by a witness this log accepts" in unknown.json()["detail"]
    assert post(client, note).status_code == 403
    assert stored_lines(ledger) == 0
    # A valid cosignature beside a forged one: only the valid one is kept.
    mixed = Note.parse(cosigned(note, wmp.name, wmp.key)).with_signature(
        cosign(text, partners[1].name, stranger, int(time.time()))
    )
    assert post(client, str(mixed)).json()["stored"] == [wmp.name]
    with ledger.connect() as conn:
        (line,) = conn.execute(select(cosignatures.c.line)).scalars()
    assert line.startswith(f"\u2014 {wmp.name} ")


def test_a_cosignature_of_a_checkpoint_this_log_did_not_issue_is_refused(
    tmp_path: Path, client: TestClient, ledger: Engine, partners: tuple[Partner, Partner]
) -> None:
    wmp = partners[0]
    # A fork: the same origin, key and size, another root.
    other = create_engine(f"sqlite:///{tmp_path / 'fork.sqlite'}")
    ledger_at(other, 45, first=1000)
    fork = post(client, cosigned(latest_note(other), wmp.name, wmp.key))
    assert fork.status_code == 409, fork.text
    assert "not this log's checkpoint of size 45" in fork.json()["detail"]
    # The right root with its text changed (another time).
    note = Note.parse(latest_note(ledger))
    body = CheckpointBody.parse(note.text)
    retimed = CheckpointBody(body.origin, body.size, body.root, ("issued_at 2030-01-01T00:00:00Z",))
    assert post_status(client, retimed, wmp) == 409
    for size in (46, 13, 2**63, 2**64 - 1):
        unknown = CheckpointBody(ORIGIN, size, body.root, body.extensions)
        assert post_status(client, unknown, wmp) == 404
    assert stored_lines(ledger) == 0


def post_status(client: TestClient, body: CheckpointBody, partner: Partner) -> int:
    line = cosign(body.text(), partner.name, partner.key, int(time.time()))
    status: int = post(client, str(Note(body.text(), (line,)))).status_code
    return status


def test_malformed_or_oversized_cosignatures_are_refused(
    client: TestClient, ledger: Engine, partners: tuple[Partner, Partner]
) -> None:
    good = cosigned(latest_note(ledger), partners[0].name, partners[0].key)
    for body in (
        b"",
        b"\xff\xfe not utf-8\n\n",
        good.replace("\n\n", "\n"),  # no blank line before the signatures
        good.replace("\n", "\r\n"),
        good.rstrip("\n"),
        "x\n\n" + good.split("\n\n", 1)[1],  # signatures over something not a checkpoint
        good + "not a signature line\n",
    ):
        assert post(client, body).status_code == 400, body
    padded = good + "\u2014 " + "a" * MAX_COSIGNATURE_BYTES + "\n"
    assert post(client, padded).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while reading
        yield good.encode()
        for _ in range(20):
            yield b"A" * 4096

    chunked = client.post(f"{AUDIT}/cosignature", content=chunks())
    assert chunked.status_code == 413
    assert stored_lines(ledger) == 0


def test_without_witness_keys_no_cosignature_is_taken(
    tmp_path: Path, ledger: Engine, tokens: dict[str, str], partners: tuple[Partner, Partner]
) -> None:
    client = TestClient(make_app(tmp_path, ledger))
    reply = post(client, cosigned(latest_note(ledger), partners[0].name, partners[0].key))
    assert reply.status_code == 403 and "no witness keys configured" in reply.json()["detail"]
    assert stored_lines(ledger) == 0


def test_without_a_ledger_every_audit_path_is_a_404(
    tmp_path: Path, tokens: dict[str, str], partners: tuple[Partner, Partner]
) -> None:
    client = TestClient(make_app(tmp_path, None, partners))
    vrp = auth(tokens["vrp"])
    for reply in (
        client.get(f"{AUDIT}/checkpoint"),
        client.get(f"{AUDIT}/checkpoint/1"),
        client.get(f"{AUDIT}/proof/consistency?from=1&to=2", headers=vrp),
        client.get(f"{AUDIT}/proof/inclusion?decision_id=x", headers=auth(tokens["ig:vrp"])),
        client.post(f"{AUDIT}/cosignature", content=b"x"),
    ):
        assert reply.status_code == 404
        assert reply.json() == {"detail": "no audit ledger configured"}
    # The proofs still need a token first.
    assert client.get(f"{AUDIT}/proof/consistency?from=1&to=2").status_code == 401


def test_malformed_witness_keys_are_refused_when_the_app_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="witness key"):
        create_app(create_engine("sqlite://"), Tokens({}), witnesses=["not-a-key"])


# ---------------------------------------------------------------------- witnesses over HTTP


def test_witnesses_over_http_co_sign_and_the_log_keeps_their_lines(
    server: str, ledger: Engine, tokens: dict[str, str], partners: tuple[Partner, Partner]
) -> None:
    log = HttpLog(server, tokens["vrp"])
    for partner in partners:
        done = partner.witness.run(log)
        assert (done.tree_size, done.grown_from) == (45, None)
    assert stored_lines(ledger) == 2
    assert quorum_of(ledger, partners, 45) == {p.name for p in partners}
    shown = Note.parse(log.latest())
    assert [s.name for s in shown.signatures] == [ORIGIN, partners[0].name, partners[1].name]
    # The log grows; each witness checks a consistency proof over HTTP and co-signs.
    grow(ledger, 45, 30)
    for partner in partners:
        done = partner.witness.run(log)
        assert (done.grown_from, done.tree_size) == (45, 75)
    assert quorum_of(ledger, partners, 75) == {p.name for p in partners}
    # Running again on an unchanged log co-signs again, and the log keeps one line each.
    partners[0].witness.run(log)
    assert stored_lines(ledger) == 4


def test_a_witness_over_http_is_told_why_its_cosignature_was_refused(
    tmp_path: Path, server: str, ledger: Engine, tokens: dict[str, str]
) -> None:
    stranger = Partner("witness.stranger.example/svdhub", tmp_path / "stranger")
    with pytest.raises(WitnessError, match="403 no valid cosignature by a configured witness"):
        stranger.witness.run(HttpLog(server, tokens["vrp"]))
    # It kept the checkpoint it co-signed all the same.
    kept = Note.parse(stranger.witness.latest_file.read_text())
    assert cosigned_at(kept, stranger.name, stranger.public) is not None
    assert stored_lines(ledger) == 0
    # Without a token it reads checkpoints, but not the proof it needs once the log grows.
    grow(ledger, 45, 5)
    with pytest.raises(WitnessError, match="401"):
        stranger.witness.run(HttpLog(server))


def test_a_witness_over_http_refuses_an_unreachable_log(tmp_path: Path) -> None:
    lonely = Partner("witness.lonely.example/svdhub", tmp_path / "lonely")
    with pytest.raises(WitnessError, match=r"GET http://127\.0\.0\.1:"):
        lonely.witness.run(HttpLog(f"http://127.0.0.1:{free_port()}/api/v1", timeout=5))


# ---------------------------------------------------------------------- svdhub api


def test_svdhub_api_serves_the_ledger_and_takes_witness_keys(
    tmp_path: Path, ledger: Engine, partners: tuple[Partner, Partner], monkeypatch: Any
) -> None:
    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SVDHUB_AUDIT_DATABASE", raising=False)
    monkeypatch.delenv("SVDHUB_AUDIT_WITNESSES", raising=False)
    runner = CliRunner()
    keys = [p.witness.public_key for p in partners]

    def started(result: Any) -> FastAPI:
        assert result.exit_code == 0, result.output
        return served.pop()

    # No ledger file and no URL: no ledger is made, and the audit paths answer 404.
    found = started(runner.invoke(api_cli.app, [])).state.context
    assert found.ledger is None and found.witnesses == ()
    assert not (tmp_path / "home" / "audit" / "ledger.sqlite").exists()
    given = started(
        runner.invoke(
            api_cli.app,
            ["--audit-database", str(ledger.url), "--witness", keys[0], "--witness", keys[1]],
        )
    ).state.context
    assert given.ledger is not None
    assert [name for name, _ in given.witnesses] == [p.name for p in partners]
    env = {"SVDHUB_AUDIT_DATABASE": str(ledger.url), "SVDHUB_AUDIT_WITNESSES": " ".join(keys)}
    app = started(runner.invoke(api_cli.app, [], env=env))
    assert len(app.state.context.witnesses) == 2
    assert TestClient(app).get(f"{AUDIT}/checkpoint").status_code == 200
    bad = runner.invoke(api_cli.app, ["--witness", "not-a-key"])
    assert bad.exit_code == 2 and "--witness" in bad.output
    assert not served


def test_the_openapi_document_lists_the_audit_paths(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/checkpoint",
        "/checkpoint/{size}",
        "/proof/consistency",
        "/proof/inclusion",
        "/cosignature",
    ):
        assert f"{AUDIT}{path}" in paths
    assert list(paths[f"{AUDIT}/cosignature"]) == ["post"]


def test_an_ig_leads_token_reads_consistency_proofs_and_no_view(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lead = auth(tokens["ig:wmp"])
    assert client.get(f"{AUDIT}/proof/consistency?from=14&to=45", headers=lead).status_code == 200
    for path in ("/api/v1/whoami", "/api/v1/views/incidents"):
        assert client.get(path, headers=lead).status_code == 401


def test_the_cli_issues_ig_lead_tokens_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    runner = CliRunner()
    made = runner.invoke(api_cli.app, ["tokens", "--ig-lead", "wmp"])
    assert made.exit_code == 0, made.output
    token = made.stdout.split()[-1]
    loaded = Tokens.load(api_cli.tokens_file())
    assert loaded.ig_lead(token) == "wmp" and loaded.recipient(token) is None
    both = runner.invoke(api_cli.app, ["tokens", "--ig-lead", "wmp", "--recipient", "vrp"])
    assert both.exit_code == 2
