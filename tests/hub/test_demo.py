"""`svdhub demo` as a user runs it, on a stack of its own (free ports, its own state);
then every file it and a connector wrote is checked to be owner-only."""

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.stack import StackConfig
from tests.fixtures.modes import not_private
from tests.fixtures.services import stack_for_a_command, unavailable

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


CONFIGS = Path(__file__).resolve().parents[2] / "connectors" / "config"


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[tuple[StackConfig, dict[str, str]]]:
    with stack_for_a_command("demo", tmp_path) as stack:
        yield stack


def demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--exit"],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def test_the_demo_runs_end_to_end_and_reruns_idempotently(
    demo_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    config, demo_env = demo_stack
    first = demo(demo_env)
    if first.returncode != 0 and "stack" in first.stderr and "error" in first.stderr:
        unavailable("local stack", first.stderr[-2000:])
    assert first.returncode == 0, first.stderr
    events = section(first.stdout, "events in, per authority:")
    assert set(events) == {"bcc-youth", "swbh-ed", "uhb-ed", "wmas", "wmp", "yos-birmingham"}
    assert all(count > 0 for count in events.values())
    shares = section(first.stdout, "shares, per recipient:")
    assert {"vrp", "public", "csp-birmingham"} <= set(shares)
    assert section(first.stdout, "quarantined, by reason:") == {"none": 0}
    assert first.stdout.count(" ok ") == 6
    rows = re.search(r"ledger: (\d+) rows \((\d+) added", first.stdout)
    assert rows is not None and rows.group(1) == rows.group(2), first.stdout
    assert re.search(
        r"audit verify: OK: \d+ rows, \d+ checkpoints verified; root [0-9a-f]{64}", first.stdout
    )
    assert "allow decisions == shares, per recipient): exact" in first.stdout
    assert re.search(r"the top 10% of areas hold \d+% of incidents", first.stdout)
    assert re.search(r"not in police records \(VRP\): \d+%", first.stdout)
    assert re.search(r"\n   vrp +\S{20,}", first.stdout)  # a dashboard token

    # The rerun serves the dashboard, as `make demo` does, until it is stopped.
    second, children = serve(demo_env)
    assert second.count("(published 0,") == 6  # nothing twice
    for title in ("events in, per authority:", "shares, per recipient:"):
        assert section(second, title) == section(first.stdout, title)
    assert f"ledger: {rows.group(1)} rows (0 added" in second
    assert len(children) == 4  # the enforcer, the ledger, the views and the API
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]

    files_are_private(config.state_dir, demo_env)


def files_are_private(home: Path, env: dict[str, str]) -> None:
    """Everything in the state folder (keys, tokens, stack.env, the SQLite ledger,
    views and checkpoints with their WAL, Kafka's and OPA's files, the broker's
    TLS files and every principal's credentials) and in PostgreSQL's data is
    0600 in 0700 folders, including a connector's reject file. The connector
    connects as connector-wmp, with the file `svdhub stack up` wrote."""
    extract = home / "synthetic" / "wmp_crime.csv"
    with extract.open("a", encoding="utf-8") as handle:
        handle.write("not,a,valid,row\n")
    run = subprocess.run(
        [sys.executable, "-m", "hub.cli", "connector", "run", str(CONFIGS / "wmp-crime.yaml")],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
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
        "tls/ca.pem",
        "tls/ca-key.pem",
        "tls/broker.p12",
        "tls/broker.password",
        "access/admin.properties",
        "access/enforcer.properties",
        "access/ledger.properties",
        "access/views.properties",
        "access/connector-wmp.properties",
        "access/recipient-vrp.properties",
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


def serve(env: dict[str, str]) -> tuple[str, list[int]]:
    """Run the demo until its dashboard answers, then stop it the way a
    supervisor does (SIGTERM to the demo alone): its summary, and the processes
    it had started."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "demo", "--port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    out = []
    try:
        for line in process.stdout:
            out.append(line)
            if "Ctrl-C stops everything" in line:
                break
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the dashboard did not answer"
                time.sleep(0.5)
        children = [
            int(pid)
            for task in Path(f"/proc/{process.pid}/task").iterdir()
            for pid in (task / "children").read_text().split()
        ]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    return "".join(out), children


def section(output: str, title: str) -> dict[str, int]:
    """The ``count  name`` lines under ``title`` in the demo's output."""
    lines = output.split(title, 1)[1].splitlines()[1:]
    found: dict[str, int] = {}
    for line in lines:
        match = re.fullmatch(r"\s+(\d+)  (.+)", line)
        if not match:
            break
        found[match.group(2)] = int(match.group(1))
    return found
