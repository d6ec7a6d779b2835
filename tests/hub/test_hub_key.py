"""The hub's signing key in the state folder, and ``svdhub access hub-key``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.hub_key import hub_keys, hub_signer, private_key_path, public_key_path
from tests.fixtures.records import HUB_SIGNER, a_share
from wire.hub_signing import HubKeyFileError, HubKeys

runner = CliRunner()


def test_the_key_is_made_on_first_use_and_then_kept(tmp_path: Path) -> None:
    signer = hub_signer(tmp_path)
    assert private_key_path(tmp_path) == tmp_path / "keys" / "hub" / "signing.pem"
    assert stat.S_IMODE(private_key_path(tmp_path).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys" / "hub").stat().st_mode) == 0o700
    assert hub_signer(tmp_path).key_id == signer.key_id
    keys = hub_keys(tmp_path)
    assert keys.key_ids() == [signer.key_id]
    value = a_share(1).to_bytes()
    assert keys.verify(value, signer.sign(value)).key_id == signer.key_id


def test_the_views_or_ledger_may_start_first(tmp_path: Path) -> None:
    keys = hub_keys(tmp_path)  # no key yet: made now, for the enforcer to use
    assert keys.key_ids() == [hub_signer(tmp_path).key_id]


def test_a_key_file_listing_older_keys_keeps_them(tmp_path: Path) -> None:
    HUB_SIGNER.keys().save(public_key_path(tmp_path))
    signer = hub_signer(tmp_path)
    assert hub_keys(tmp_path).key_ids() == [HUB_SIGNER.key_id, signer.key_id]


def test_a_published_key_file_can_be_given(tmp_path: Path) -> None:
    given = tmp_path / "published.json"
    HUB_SIGNER.keys().save(given)
    assert hub_keys(tmp_path / "home", given).key_ids() == [HUB_SIGNER.key_id]
    assert not (tmp_path / "home").exists()
    given.write_text("{}", encoding="utf-8")
    with pytest.raises(HubKeyFileError):
        hub_keys(tmp_path / "home", given)


def test_access_hub_key_prints_the_public_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVDHUB_HOME", str(tmp_path))
    result = runner.invoke(app, ["access", "hub-key"])
    assert result.exit_code == 0, result.output
    keys = HubKeys.from_json(result.stdout)
    assert keys.key_ids() == [hub_signer(tmp_path).key_id]
    assert "PRIVATE" not in result.output
    out = tmp_path / "hub-key.json"
    result = runner.invoke(app, ["access", "hub-key", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["keys"][0]["key_id"] == keys.key_ids()[0]


def test_the_key_file_in_the_recipients_docs_is_one_and_its_key_id_is_derived() -> None:
    text = (Path(__file__).parents[2] / "docs" / "shares.md").read_text(encoding="utf-8")
    block = text.split("```json hub-key\n", 1)[1].split("```", 1)[0]
    keys = HubKeys.from_json(block, "docs/shares.md")
    assert keys.key_ids() == HUB_SIGNER.keys().key_ids()  # the tests' hub key, as printed
    assert block == HUB_SIGNER.keys().to_json()
