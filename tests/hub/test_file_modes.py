"""Everything the hub writes in its state folder is owner-only (files 0600, folders 0700).

The real commands run as a user runs them, on a stack of their own: the demo
(stack up, synthetic extracts, connector keys and runs, the enforcer with its
recipient keys, the audit ledger and its key, the views, API tokens), then a
connector run over a bad row, which writes a reject file. Then the whole
state folder is walked, and PostgreSQL's data too when it lives outside it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.stack import StackConfig
from tests.fixtures.modes import not_private
from tests.fixtures.services import stack_for_a_command, unavailable

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]

CONFIGS = Path(__file__).resolve().parents[2] / "connectors" / "config"


@pytest.fixture
def modes_stack(tmp_path: Path) -> Iterator[tuple[StackConfig, dict[str, str]]]:
    with stack_for_a_command("modes", tmp_path) as stack:
        yield stack


def svdhub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def test_every_file_the_hub_writes_is_private(
    modes_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    config, env = modes_stack
    home = config.state_dir
    demo = svdhub("demo", "--exit", env=env)
    if demo.returncode != 0 and "stack" in demo.stderr and "error" in demo.stderr:
        unavailable("local stack", demo.stderr[-2000:])
    assert demo.returncode == 0, demo.stderr[-3000:]

    extract = home / "synthetic" / "wmp_crime.csv"
    with extract.open("a", encoding="utf-8") as handle:
        handle.write("not,a,valid,row\n")
    run = svdhub("connector", "run", str(CONFIGS / "wmp-crime.yaml"), env=env)
    assert run.returncode == 4, run.stderr[-2000:]  # some rows rejected

    written = [
        "stack.env",
        "postgres/password",
        "keys/registry.yaml",
        "keys/partnership/linkage.key",
        "keys/wmp/signing.pem",
        "keys/audit/checkpoint.pem",
        "keys/recipients/vrp.key",
        "api/tokens.yaml",
        "audit/ledger.sqlite",
        "views/views.sqlite",
        "connectors/wmp/checkpoint.sqlite",
    ]
    for name in written:
        assert (home / name).is_file(), name
    assert list((home / "connectors" / "wmp" / "rejects").glob("*.jsonl"))

    roots = [home]
    cluster = Path((home / "postgres" / "data-location").read_text(encoding="utf-8").strip())
    if not cluster.is_relative_to(home):  # run as root: PostgreSQL's data is in /var/tmp
        roots.append(cluster)
    offenders = not_private(*roots)
    assert offenders == [], "not private:\n" + "\n".join(offenders)
