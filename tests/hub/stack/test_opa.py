"""The local stack's OPA: its bearer tokens, the system.authz bundle made from
them, and the flags it runs with."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.stack.config import StackConfig
from hub.stack.opa import ROLES, Opa
from hub.stack.process import StackError, cmdline, read_pid
from tests.fixtures.modes import mode, not_private
from tests.fixtures.services import PrivateOpa


def opa_in(state: Path) -> Opa:
    return Opa(StackConfig.load(state_dir=state))


@pytest.mark.usefixtures("loose_umask")
def test_tokens_are_made_once_private_and_kept(tmp_path: Path) -> None:
    opa = opa_in(tmp_path / "state")
    first = opa.ensure_tokens()
    assert set(first) == set(ROLES) == {"enforcer", "ops"}
    assert len(set(first.values())) == 2
    assert all(len(token) >= 43 for token in first.values())  # 32 random bytes, URL-safe
    assert mode(opa.token_file().parent) == 0o700
    assert not_private(opa.token_file().parent) == []
    assert opa.ensure_tokens() == first  # idempotent: existing tokens are kept
    assert opa.token("ops") == first["ops"]


@pytest.mark.usefixtures("loose_umask")
def test_the_authz_bundle_holds_digests_not_tokens(tmp_path: Path) -> None:
    opa = opa_in(tmp_path / "state")
    tokens = opa.ensure_tokens()
    opa.write_authz(tokens)
    manifest = json.loads((opa.authz_dir / ".manifest").read_text(encoding="utf-8"))
    assert manifest["roots"] == ["system"]  # beside the svd bundle, never overlapping it
    data = json.loads((opa.authz_dir / "data.json").read_text(encoding="utf-8"))
    assert data == {
        "system": {
            "identities": {
                hashlib.sha256(token.encode()).hexdigest(): role for role, token in tokens.items()
            }
        }
    }
    policy = opa.authz_dir / "system" / "authz" / "authz.rego"
    assert policy.read_bytes() == opa.authz_policy.read_bytes()
    written = "".join(
        p.read_text(encoding="utf-8") for p in opa.authz_dir.rglob("*") if p.is_file()
    )
    assert not [role for role, token in tokens.items() if token in written]
    assert not_private(opa.authz_dir) == []


def test_opa_runs_authenticated_and_keeps_its_tokens_over_a_restart(
    private_opa: PrivateOpa,
) -> None:
    pid = read_pid(private_opa.state / "opa" / "opa.pid")
    assert pid is not None
    command = cmdline(pid)
    assert "--authentication=token" in command
    assert "--authorization=basic" in command
    assert str(private_opa.state / "opa" / "authz") in command
    before = {role: private_opa.token_of(role) for role in ROLES}
    private_opa.stack.down()
    private_opa.stack.up()  # the readiness probe (ops token) passes again
    assert {role: private_opa.token_of(role) for role in ROLES} == before


def test_stack_tokens_makes_what_docker_compose_mounts(tmp_path: Path) -> None:
    env = {**os.environ, "SVDHUB_HOME": str(tmp_path / "state")}
    command = [sys.executable, "-m", "hub.cli", "stack", "tokens"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=60)
    opa = opa_in(tmp_path / "state")
    assert f"enforcer  {opa.token_file('enforcer')}" in first.stdout
    assert (opa.authz_dir / "data.json").is_file()
    token = opa.token()
    subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)
    assert opa.token() == token  # kept


def test_an_opa_started_without_authentication_is_named_not_waited_for(tmp_path: Path) -> None:
    """An OPA left running by an older svdhub (no authz bundle on its command
    line) would never pass the authenticated readiness probe: say so at once."""
    opa = opa_in(tmp_path / "state")
    opa.home.mkdir(parents=True)
    stand_in = subprocess.Popen(  # its command line names the bundle, as the old OPA's did
        [sys.executable, "-c", "import time; time.sleep(60)", str(opa.bundle_dir)]
    )
    try:
        opa.pid_file.write_text(str(stand_in.pid), encoding="utf-8")
        with pytest.raises(StackError, match="without authentication by an older svdhub"):
            opa.wait_ready(time.monotonic() + 30)
    finally:
        stand_in.kill()
        stand_in.wait()
