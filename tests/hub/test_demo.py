"""`svdhub demo` as a user runs it, on a stack of its own (free ports, its own state);
then every file it and a connector wrote is checked to be owner-only, and the
hub's state folder is checked to hold no private key but the hub's own."""

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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from hub.stack import StackConfig
from tests.fixtures.modes import not_private
from tests.fixtures.services import stack_for_a_command, unavailable
from wire.signing import KeyRegistry

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


CONFIGS = Path(__file__).resolve().parents[2] / "connectors" / "config"


AUTHORITIES = ("bcc-youth", "swbh-ed", "uhb-ed", "wmas", "wmp", "yos-birmingham")


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[tuple[StackConfig, dict[str, str]]]:
    """The stack, and the demo's environment: the hub's state folder and, apart
    from it, the folder of the simulated authorities."""
    with stack_for_a_command("demo", tmp_path) as (config, env):
        env["SVDHUB_AUTHORITIES"] = str(tmp_path / "authorities")
        env.pop("SVDHUB_AUTHORITY_HOME", None)
        yield config, env


def demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo", "--exit"],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


@pytest.mark.timeout(600)  # two demo runs and a connector run, on a shared machine
def test_the_demo_runs_end_to_end_and_reruns_idempotently(
    demo_stack: tuple[StackConfig, dict[str, str]],
) -> None:
    config, demo_env = demo_stack
    first = demo(demo_env)
    if first.returncode != 0 and "stack" in first.stderr and "error" in first.stderr:
        unavailable("local stack", first.stderr[-2000:])
    assert first.returncode == 0, first.stderr
    events = section(first.stdout, "events in, per authority:")
    assert set(events) == set(AUTHORITIES)
    assert all(count > 0 for count in events.values())
    shares = section(first.stdout, "shares, per recipient:")
    assert {"vrp", "public", "csp-birmingham"} <= set(shares)
    assert section(first.stdout, "quarantined, by reason:") == {"none": 0}
    assert first.stdout.count(" ok ") == 6
    rows = re.search(r"ledger: (\d+) rows \((\d+) added", first.stdout)
    assert rows is not None and rows.group(1) == rows.group(2), first.stdout
    assert re.search(
        r"audit verify: OK: \d+ rows, \d+ checkpoints verified \(\d+ consistency proofs\); "
        r"root [0-9a-f]{64}; "
        r"2 of 2 witnesses co-signed \d+ records or more",
        first.stdout,
    )
    assert first.stdout.count("'s witness: co-signed ") == 2
    assert re.search(
        r"a partner's consistency check: VALID: the checkpoint of \d+ records .* append-only",
        first.stdout,
    ), first.stdout
    assert "allow decisions == shares, per recipient): exact" in first.stdout
    streams = k_anonymity(first.stdout)
    print("k-anonymity:\n" + "\n".join(streams.values()))
    assert re.search(
        r"7\. k-anonymity: per stream, share of records with k<5 over its last 28 days "
        r"\(svdhub risk report: (every stream meets its min_k|SOME STREAM IS BELOW ITS MIN_K)\)",
        first.stdout,
    )
    # Streams under min_k: what it cost is shown; few records, if any, are left
    # below it (only by a retraction after their release: docs/risk.md).
    governed = ("csp-birmingham wmp-csps", "csp-coventry wmp-csps", "public vrp-public")
    for name in governed:
        line = streams[name]
        assert re.search(r"\(min_k 5: \d+ below; \d+ shared, \d+ withheld, \d+ held back\)", line)
        share = float(line.split("%")[0])
        assert share < 2.0, line
    assert re.fullmatch(
        r"\s+\d+\.\d%\s+vrp\s+wmp-vrp\s+Incident\s+\d+ records  \(no min_k\)",
        streams["vrp wmp-vrp"],
    )
    assert re.search(r"the top 10% of areas hold \d+% of incidents", first.stdout)
    assert re.search(
        r"not in police records \(VRP, linked\): \d+% \(\d+ of \d+, published counts\)",
        first.stdout,
    ), first.stdout
    assert re.search(r"\n   vrp +\S{20,}", first.stdout)  # a dashboard token

    # The rerun serves the dashboard, as `make demo` does, until it is stopped.
    second, children = serve(demo_env)
    assert second.count("(published 0,") == 6  # nothing twice
    for title in ("events in, per authority:", "shares, per recipient:"):
        assert section(second, title) == section(first.stdout, title)
    assert f"ledger: {rows.group(1)} rows (0 added" in second
    # the enforcer, the ledger, two witnesses, the views and the API
    assert len(children) == 6
    assert second.count("'s witness: co-signed ") == 2  # the same log, grown or not
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]

    authorities = Path(demo_env["SVDHUB_AUTHORITIES"])
    files_are_private(config.state_dir, authorities, demo_env)
    the_hub_holds_no_private_key_but_its_own(config.state_dir, authorities)


def files_are_private(home: Path, authorities: Path, env: dict[str, str]) -> None:
    """Everything in the state folder (keys, tokens, stack.env, the SQLite ledger,
    views and checkpoints with their WAL, Kafka's and OPA's files, the broker's
    TLS files and every principal's credentials), in PostgreSQL's data and in
    the authorities' folders (keys, extracts, Kafka settings, a connector's
    checkpoint and reject file) is 0600 in 0700 folders."""
    extract = authorities / "wmp" / "extracts" / "wmp_crime.csv"
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
        "keys/audit/checkpoint.pem",
        "keys/recipients/vrp.key",
        "api/tokens.yaml",
        "audit/ledger.sqlite",
        "views/views.sqlite",
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
    at_the_authority = [
        "partnership/linkage.key",
        "wmp/keys/linkage.key",
        "wmp/keys/signing.pem",
        "wmp/public/wmp-local-1.yaml",
        "wmp/connector/checkpoint.sqlite",
    ]
    for name in at_the_authority:
        assert (authorities / name).is_file(), name
    assert list((authorities / "wmp" / "connector" / "rejects").glob("*.jsonl"))
    roots = [home, authorities]
    cluster = Path((home / "postgres" / "data-location").read_text(encoding="utf-8").strip())
    if not cluster.is_relative_to(home):  # run as root: PostgreSQL's data is in /var/tmp
        roots.append(cluster)
    offenders = not_private(*roots)
    assert offenders == [], "not private:\n" + "\n".join(offenders)


# The hub's own private keys: the audit checkpoint key, the per-recipient
# pseudonym keys, the hub's signing key; and the local stack's own TLS keys.
# The views' cell-key secret (keys/views/) is the hub's own: it keys the noise.
HUB_OWN_KEYS = ("keys/audit/", "keys/recipients/", "keys/hub/", "keys/views/", "tls/")


def the_hub_holds_no_private_key_but_its_own(home: Path, authorities: Path) -> None:
    """Key custody after a demo run: every authority's signing key and its copy of
    the partnership linkage key are in its own folder; in the hub's state
    folder, every PEM private key and raw key file is one of the hub's own, and
    no file holds an authority's private key or the linkage key, in any form."""
    linkage = (authorities / "partnership" / "linkage.key").read_bytes()
    secrets = {
        "the linkage key": linkage,
        "the linkage key (bytes)": bytes.fromhex(linkage.decode()),
    }
    secrets["the linkage key (hex)"] = linkage.strip()
    for authority in AUTHORITIES:
        keys = authorities / authority / "keys"
        assert (keys / "linkage.key").read_bytes() == linkage, authority
        pem = (keys / "signing.pem").read_bytes()
        private = load_pem_private_key(pem, password=None)
        assert isinstance(private, Ed25519PrivateKey)
        secrets[f"{authority}'s signing key"] = pem
        secrets[f"{authority}'s signing key (raw)"] = private.private_bytes_raw()
    # Kafka's offset and time indexes hold numbers only, and a live segment's are
    # preallocated (10 MiB each, per partition): not worth reading.
    files = [
        path
        for path in home.rglob("*")
        if path.is_file() and not path.is_symlink() and path.suffix not in (".index", ".timeindex")
    ]
    assert len(files) > 20
    own = []
    for path in files:
        name = path.relative_to(home).as_posix()
        data = path.read_bytes()
        if b"PRIVATE KEY-----" in data or path.suffix in (".pem", ".key"):
            assert name.startswith(HUB_OWN_KEYS), f"a private key not the hub's own: {name}"
            own.append(name)
        for what, secret in secrets.items():
            assert secret not in data, f"{name} holds {what}"
    assert "keys/audit/checkpoint.pem" in own
    assert any(name.startswith("keys/recipients/") for name in own)
    registry = KeyRegistry.load(home / "keys" / "registry.yaml")
    assert {registry.get(key_id).authority for key_id in registry.key_ids()} >= set(AUTHORITIES)


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


def k_anonymity(output: str) -> dict[str, str]:
    """The demo's k-anonymity lines, by "<recipient> <agreement>"."""
    lines = output.split("7. k-anonymity:", 1)[1].splitlines()[1:]
    found: dict[str, str] = {}
    for line in lines:
        match = re.match(r"\s+(?:\d+\.\d%|-)\s+(\S+)\s+(\S+)\s", line)
        if not match:
            break
        found[f"{match.group(1)} {match.group(2)}"] = line
    return found


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
