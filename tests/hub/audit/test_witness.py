"""Partners' witnesses against an operator who rewrites the audit log.

The ledger is SQLite here (the witness reads it as ``--log <database URL>``);
each attack is what the hub's operator, holding the database and the audit
key, can do, and each test names what detects it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, delete

from hub.audit.checkpoints import Checkpoint
from hub.audit.ledger import Ledger, checkpoints, cosignatures, entries, load_cosignatures
from hub.audit.note import Note, Verifier, cosigned_at, raw_public_key
from hub.audit.quorum import quorum
from hub.audit.verify import verify
from hub.audit.witness import DatabaseLog, Refused, Witness
from tests.fixtures.records import HUB_KEYS
from tests.hub.audit.test_ledger import SIGNER, messages

ORIGIN = "svdhub.example/wm-vrp/audit"


def ledger_at(engine: Engine, rows: int, first: int = 0) -> Ledger:
    ledger = Ledger(
        engine, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS, origin=ORIGIN
    )
    for start in range(first, first + rows, 7):
        ledger.apply(messages(start, min(7, first + rows - start)))
    ledger.checkpoint()
    return ledger


def verifier() -> Verifier:
    return Verifier(ORIGIN, SIGNER.public_key().raw_bytes())


class Partner:
    def __init__(self, name: str, state: Path) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.witness = Witness(name, self.key, state, verifier())
        self.name = name

    @property
    def public(self) -> bytes:
        return raw_public_key(self.key.public_key())


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


@pytest.fixture
def partners(tmp_path: Path) -> tuple[Partner, Partner]:
    return (
        Partner("witness.wmp.example/svdhub", tmp_path / "wmp"),
        Partner("witness.uhb.example/svdhub", tmp_path / "uhb"),
    )


def quorum_of(engine: Engine, partners: tuple[Partner, Partner], size: int) -> set[str]:
    stored = Ledger(engine, SIGNER, keys=HUB_KEYS, origin=ORIGIN).checkpoints()
    lines = load_cosignatures(engine)
    found = quorum(
        [(c, lines.get(c.tree_size, [])) for c in stored],
        [],
        [(p.name, p.public) for p in partners],
        2,
        size,
    )
    return {name for name, at in found.cosigned.items() if at >= size}


def test_a_clean_log_is_co_signed_and_meets_the_quorum(
    engine: Engine, partners: tuple[Partner, Partner]
) -> None:
    ledger = ledger_at(engine, 45)
    log = DatabaseLog(engine)
    for partner in partners:
        assert partner.witness.run(log).tree_size == 45
    ledger.apply(messages(45, 30))
    ledger.checkpoint()
    for partner in partners:
        done = partner.witness.run(log)  # consistent with 45: co-signed again
        assert (done.grown_from, done.tree_size) == (45, 75)
    assert quorum_of(engine, partners, 75) == {p.name for p in partners}
    # The cosignatures are C2SP lines over the log's own note.
    kept = Note.parse(partners[0].witness.latest_file.read_text())
    assert cosigned_at(kept, partners[0].name, partners[0].public) is not None
    assert kept.signed_by(verifier())


def test_truncating_the_log_by_a_tenth_is_refused_and_fails_the_quorum(
    engine: Engine, partners: tuple[Partner, Partner]
) -> None:
    ledger_at(engine, 100)
    log = DatabaseLog(engine)
    for partner in partners:
        partner.witness.run(log)
    # The operator drops the newest 10 rows, their checkpoints and cosignatures,
    # and signs a checkpoint of what is left.
    with engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq >= 90))
        conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > 90))
        conn.execute(delete(cosignatures).where(cosignatures.c.tree_size > 90))
    truncated = Ledger(engine, SIGNER, keys=HUB_KEYS, origin=ORIGIN)
    truncated.apply(messages(200, 0))
    with pytest.raises(Refused, match="shrank") as refused:
        partners[0].witness.run(log)
    evidence = refused.value.evidence
    assert {p.name for p in evidence.iterdir()} >= {"cosigned.note", "offered.note", "reason.txt"}
    # The quorum at the size the witnesses last co-signed is not met, and the
    # checkpoint a witness kept shows the rows that went.
    assert quorum_of(engine, partners, 100) == set()
    kept = Checkpoint.from_note(partners[1].witness.latest_file.read_text(), verifier())
    found = verify(engine, [kept]).problems
    assert any("the ledger holds only 90 rows (rows were deleted)" in p for p in found), found


def test_deleting_a_decision_and_re_signing_everything_is_refused(
    tmp_path: Path, engine: Engine, partners: tuple[Partner, Partner]
) -> None:
    ledger_at(engine, 60)
    for partner in partners:
        partner.witness.run(DatabaseLog(engine))
    # The operator rebuilds the log without decision 30, renumbered, re-signed
    # with the hub's own key, and longer than before so no size shrinks.
    rewritten = create_engine(f"sqlite:///{tmp_path / 'rewritten.sqlite'}")
    forged = Ledger(
        rewritten, SIGNER, every_records=10, every_seconds=3600, keys=HUB_KEYS, origin=ORIGIN
    )
    forged.apply([m for m in messages(0, 61) if m.offset != 30])
    forged.apply(messages(61, 10))
    forged.checkpoint()
    with pytest.raises(Refused, match="does not extend"):
        partners[0].witness.run(DatabaseLog(rewritten))
    proof = (partners[0].witness.state / "evidence").glob("*/consistency.proof")
    assert next(proof).read_text().strip()
    # Every checkpoint verifies under the hub's key, but no witness co-signed them.
    assert quorum_of(rewritten, partners, 60) == set()


def test_a_fork_with_two_roots_at_one_size_is_refused_and_kept(
    tmp_path: Path, engine: Engine, partners: tuple[Partner, Partner]
) -> None:
    ledger_at(engine, 40)
    partners[0].witness.run(DatabaseLog(engine))
    other = create_engine(f"sqlite:///{tmp_path / 'fork.sqlite'}")
    ledger_at(other, 40, first=1000)  # the same size, other decisions
    with pytest.raises(Refused, match="fork") as refused:
        partners[0].witness.run(DatabaseLog(other))
    kept = refused.value.evidence
    cosigned = Checkpoint.from_note((kept / "cosigned.note").read_text(), verifier())
    offered = Checkpoint.from_note((kept / "offered.note").read_text(), verifier())
    assert cosigned.tree_size == offered.tree_size == 40
    assert cosigned.root != offered.root


def test_the_cli_witnesses_and_verify_counts_the_quorum(tmp_path: Path, engine: Engine) -> None:
    ledger_at(engine, 45)
    url = str(engine.url)
    env = {**os.environ, "SVDHUB_HOME": str(tmp_path / "hub")}

    def svdhub(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "audit", *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )

    keys = []
    for name in ("witness.wmp.example/svdhub", "witness.uhb.example/svdhub"):
        folder = tmp_path / name.split(".")[1]
        made = svdhub("witness-key", str(folder / "key.pem"), "--name", name)
        assert made.returncode == 0, made.stderr
        keys.append(made.stdout.strip())
        ran = svdhub(
            "witness",
            "--log",
            url,
            "--key",
            str(folder / "key.pem"),
            "--name",
            name,
            "--state",
            str(folder / "state"),
            "--verifier-key",
            str(verifier()),
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.startswith("co-signed 45 records")
    witnesses = [arg for key in keys for arg in ("--witness", key)]
    ok = svdhub("verify", "--database", url, *witnesses, "--quorum", "2")
    assert ok.returncode == 0, ok.stderr
    assert "2 of 2 witnesses co-signed 45 records or more" in ok.stdout
    short = svdhub(
        "verify", "--database", url, *witnesses, "--quorum", "2", "--witnessed-size", "46"
    )
    assert short.returncode == 1 and "quorum not met" in short.stderr
    note = svdhub("checkpoint", "--database", url)
    assert note.stdout.count("\u2014 ") == 3  # the log's signature and two cosignatures
    # A witness refuses a log signed by any key but the pinned one.
    stranger = Verifier(ORIGIN, raw_public_key(Ed25519PrivateKey.generate().public_key()))
    refused = svdhub(
        "witness",
        "--log",
        url,
        "--key",
        str(tmp_path / "wmp" / "key.pem"),
        "--name",
        "witness.wmp.example/svdhub",
        "--state",
        str(tmp_path / "wmp" / "state"),
        "--verifier-key",
        str(stranger),
    )
    assert refused.returncode == 1 and "not signed by the pinned key" in refused.stderr
