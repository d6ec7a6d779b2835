"""API tokens: issued only to parties that exist, with an expiry; listed and
revoked by id or party; the earlier file format still read; the file kept
0600 and followed as it changes."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hub.views import api_cli
from hub.views.tokens import (
    ANALYST,
    DEFAULT_DAYS,
    IG,
    TokenError,
    Tokens,
    digest,
    issue,
    issue_tokens,
    listing,
    read_entries,
    revoke,
)

LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_token_carries_an_id_an_expiry_and_a_role(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    made = issue_tokens(path, ["vrp"], days=30)
    [issued] = made
    assert issued.entry.party == "vrp" and issued.entry.role == ANALYST
    assert issued.entry.expires == issued.entry.issued + timedelta(days=30)
    assert len(issued.entry.id) == 12
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text(encoding="utf-8")
    assert issued.token not in text and digest(issued.token) in text
    loaded = Tokens.load(path)
    assert loaded.recipient(issued.token) == "vrp"
    assert loaded.ig_lead(issued.token) is None
    found = loaded.lookup(issued.token)
    assert found.valid and found.entry == issued.entry
    assert loaded.lookup("guess").status == "unknown"
    assert loaded.lookup("").status == "missing"


def test_expired_and_revoked_tokens_are_no_ones(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    old = issue(path, ["vrp"], now=LONG_AGO)["vrp"]
    lead = issue(path, ["wmp"], IG)["wmp"]
    loaded = Tokens.load(path)
    assert loaded.lookup(old).status == "expired"
    assert loaded.recipient(old) is None
    assert loaded.ig_lead(lead) == "wmp"
    revoke(path, party="wmp")
    assert loaded.lookup(lead).status == "revoked"  # re-read: the file changed
    assert loaded.ig_lead(lead) is None


def test_issuing_again_replaces_a_partys_token_unless_added(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first = issue(path, ["vrp"])["vrp"]
    second = issue(path, ["vrp"])["vrp"]
    loaded = Tokens.load(path)
    assert loaded.lookup(first).status == "revoked"
    assert loaded.recipient(second) == "vrp"
    [third] = issue_tokens(path, ["vrp"], replace_existing=False)
    assert loaded.recipient(second) == loaded.recipient(third.token) == "vrp"
    lead = issue(path, ["vrp"], IG)["vrp"]  # another role: the analysts' stay
    assert loaded.recipient(second) == "vrp" and loaded.ig_lead(lead) == "vrp"
    assert [e.revoked is None for e in listing(path)] == [False, True, True, True]


def test_only_known_parties_and_valid_ids_get_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    with pytest.raises(TokenError, match="no party 'nobody'"):
        issue(path, ["nobody"], known={"vrp"})
    with pytest.raises(TokenError, match="not a valid party id"):
        issue(path, ["Not A Party"])
    with pytest.raises(TokenError, match="at least a day"):
        issue(path, ["vrp"], days=0)
    assert not path.exists()


def test_revoking_names_a_token_or_a_party(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    made = {i.entry.party: i for i in issue_tokens(path, ["vrp", "csp-birmingham"])}
    [gone] = revoke(path, token_id=made["vrp"].entry.id)
    assert gone.party == "vrp" and gone.revoked is not None
    with pytest.raises(TokenError, match="not revoked already"):
        revoke(path, token_id=made["vrp"].entry.id)
    with pytest.raises(TokenError, match="not a token id"):
        revoke(path, token_id="x")
    with pytest.raises(TokenError, match="not both"):
        revoke(path, token_id=made["vrp"].entry.id, party="vrp")
    assert [e.party for e in revoke(path, party="csp-birmingham", role=ANALYST)] == [
        "csp-birmingham"
    ]


def legacy_file(path: Path, age: timedelta) -> dict[str, str]:
    """A tokens file in the earlier format, last written ``age`` ago."""
    tokens = {"vrp": "legacy-vrp-token-0123456789", "ig:wmp": "legacy-wmp-token-0123456789"}
    document = {
        "sha256": {"vrp": digest(tokens["vrp"])},
        "ig_sha256": {"wmp": digest(tokens["ig:wmp"])},
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    written = time.time() - age.total_seconds()
    os.utime(path, (written, written))
    return tokens


def test_the_earlier_format_expires_90_days_after_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    tokens = legacy_file(path, timedelta(days=10))
    loaded = Tokens.load(path)
    assert loaded.recipient(tokens["vrp"]) == "vrp"
    assert loaded.ig_lead(tokens["ig:wmp"]) == "wmp"
    [entry] = [e for e in read_entries(path) if e.party == "vrp"]
    assert entry.id == digest(tokens["vrp"])[:12]
    assert entry.expires is not None and entry.expires - entry.issued == timedelta(
        days=DEFAULT_DAYS
    )
    # Issuing rewrites the file in the new format, the old tokens' expiry kept.
    issue(path, ["csp-birmingham"])
    rewritten = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert rewritten["version"] == 2 and len(rewritten["tokens"]) == 3
    assert [e.expires for e in read_entries(path) if e.party == "vrp"] == [entry.expires]
    assert loaded.recipient(tokens["vrp"]) == "vrp"
    assert path.stat().st_mode & 0o777 == 0o600

    stale = tmp_path / "stale.yaml"
    old = legacy_file(stale, timedelta(days=DEFAULT_DAYS + 1))
    assert Tokens.load(stale).lookup(old["vrp"]).status == "expired"


def test_a_tokens_file_that_breaks_refuses_every_token(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    token = issue(path, ["vrp"])["vrp"]
    loaded = Tokens.load(path)
    assert loaded.recipient(token) == "vrp"
    path.write_text("tokens: {not: a list}\n", encoding="utf-8")
    assert loaded.recipient(token) is None
    with pytest.raises(TokenError, match="expected a list"):
        Tokens.load(path)


def test_tokens_made_in_memory_never_expire() -> None:
    made = Tokens({"vrp": digest("a")}, {"wmp": digest("b")})
    assert made.recipient("a") == "vrp" and made.ig_lead("b") == "wmp"
    assert made.recipient("b") is None


# ---------------------------------------------------------------------- the CLI


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    return CliRunner()


def test_the_cli_issues_only_to_parties_that_exist(runner: CliRunner) -> None:
    nobody = runner.invoke(api_cli.app, ["tokens", "--recipient", "nobody"])
    assert nobody.exit_code == 2
    assert "no recipient 'nobody'" in nobody.stderr
    assert "only to parties that exist" in nobody.stderr
    assert not api_cli.tokens_file().exists()
    # An authority is a party, but not a recipient: no analyst's token for it.
    assert runner.invoke(api_cli.app, ["tokens", "issue", "--recipient", "wmp"]).exit_code == 2
    assert runner.invoke(api_cli.app, ["tokens", "--ig-lead", "nobody"]).exit_code == 2
    for args in (["tokens", "--ig-lead", "wmp"], ["tokens", "issue", "--ig-lead", "vrp"]):
        made = runner.invoke(api_cli.app, args)
        assert made.exit_code == 0, made.output
        assert "token id " in made.stderr and "expires " in made.stderr


def test_the_cli_issues_lists_and_revokes(runner: CliRunner) -> None:
    made = runner.invoke(
        api_cli.app, ["tokens", "issue", "--recipient", "vrp", "--recipient", "csp-coventry"]
    )
    assert made.exit_code == 0, made.output
    tokens = dict(line.split() for line in made.stdout.splitlines())
    assert set(tokens) == {"vrp", "csp-coventry"}
    short = runner.invoke(api_cli.app, ["tokens", "--recipient", "vrp", "--days", "7"])
    assert short.exit_code == 0, short.output
    listed = runner.invoke(api_cli.app, ["tokens", "list"])
    assert listed.exit_code == 0, listed.output
    table = listed.stdout.splitlines()
    assert table[0].split() == ["ID", "PARTY", "ROLE", "ISSUED", "EXPIRES", "REVOKED", "STATUS"]
    assert len(table) == 4
    rows = [
        json.loads(line)
        for line in runner.invoke(api_cli.app, ["tokens", "list", "--json"]).stdout.splitlines()
    ]
    assert [(r["party"], r["status"]) for r in rows] == [
        ("vrp", "revoked"),  # replaced by the 7-day token
        ("csp-coventry", "active"),
        ("vrp", "active"),
    ]
    assert {"sha256", "token"}.isdisjoint(rows[0])
    for secret in [*tokens.values(), *(e.sha256 for e in listing(api_cli.tokens_file()))]:
        assert secret not in listed.stdout
    gone = runner.invoke(api_cli.app, ["tokens", "revoke", rows[1]["id"]])
    assert gone.exit_code == 0 and f"revoked {rows[1]['id']}" in gone.stdout
    assert Tokens.load(api_cli.tokens_file()).recipient(tokens["csp-coventry"]) is None
    again = runner.invoke(api_cli.app, ["tokens", "revoke", rows[1]["id"]])
    assert again.exit_code == 2 and "not revoked already" in again.stderr
    by_party = runner.invoke(api_cli.app, ["tokens", "revoke", "--party", "vrp"])
    assert by_party.exit_code == 0, by_party.output
    assert runner.invoke(api_cli.app, ["tokens", "revoke"]).exit_code == 2
    assert runner.invoke(api_cli.app, ["tokens", "--recipient", "vrp", "list"]).exit_code == 2
