"""``make bench``: run every benchmark and write one report.

Usage: python -m tests.bench [--quick] [--previous REPORT.json]. Kafka and
OPA come from SVDHUB_KAFKA_CREDENTIALS (the admin's client settings) and
OPA_URL, else the local stack is brought up (and its admin's settings are
read from .hub/access/admin.properties). The report goes to .hub/bench/
(Markdown and JSON); each figure stands beside a baseline measured in the same
run. --quick uses sizes ten times smaller.

Kafka takes only SASL_SSL with SCRAM-SHA-512: every component connects as its
own principal (the connector as ``connector-wmp``, the enforcer as
``enforcer``, the views as ``views``), the baselines over the same listener,
and the harness sets up and reads back as ``admin``. The cost of TLS and SCRAM
is shown against figures recorded before Kafka was secured (``--previous``,
by default tests/bench/before-tls.json), one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from hub.access.store import ADMIN, CredentialStore
from hub.settings import opa_token_file, read_token
from hub.stack import Stack, StackConfig
from tests.bench import (
    bench_audit,
    bench_connector,
    bench_disclosure,
    bench_enforcer,
    bench_kafka,
    bench_views,
    bench_wire,
)
from tests.bench.ceilings import with_ceilings
from tests.bench.harness import Result, load_previous, write_report
from tests.hub.enforcer.pipeline import OpaEndpoint
from wire.kafka_client import CREDENTIALS_ENV, ClientSettings

BEFORE_TLS = Path(__file__).with_name("before-tls.json")


def admin_settings(state_dir: Path) -> ClientSettings:
    """The broker's admin: ``$SVDHUB_KAFKA_CREDENTIALS`` when set (a broker that
    is already up), else ``<state>/access/admin.properties`` (``svdhub stack up``)."""
    if path := os.environ.get(CREDENTIALS_ENV):
        return ClientSettings.load(Path(path))
    return CredentialStore(state_dir).load(ADMIN)


def services(config: StackConfig) -> tuple[ClientSettings, OpaEndpoint]:
    """The admin's Kafka client settings, and OPA's URL with the enforcer's token:
    from the environment (SVDHUB_KAFKA_CREDENTIALS, OPA_URL, OPA_TOKEN), else
    the local stack."""
    kafka, opa = os.environ.get(CREDENTIALS_ENV), os.environ.get("OPA_URL")
    token = os.environ.get("OPA_TOKEN", "")
    if opa and not token:
        raise SystemExit("OPA_URL is set but OPA_TOKEN (the enforcer's token for it) is not")
    if kafka and opa:
        return admin_settings(config.state_dir), OpaEndpoint(opa, token)
    stack = Stack(config, only=["kafka", "opa"], say=lambda msg: print(msg, file=sys.stderr))
    stack.up()
    if not opa:
        opa, token = (
            stack.env()["OPA_URL"],
            read_token(opa_token_file("enforcer", config.state_dir)),
        )
    return admin_settings(config.state_dir), OpaEndpoint(opa, token)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="sizes ten times smaller")
    parser.add_argument(
        "--previous",
        type=Path,
        default=BEFORE_TLS,
        help="a report.json to compare each figure with (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    previous = load_previous(args.previous)
    config = StackConfig.load()
    results: list[Result] = []
    print("wire: encode+sign and verify+decode ...", flush=True)
    results += bench_wire.run(count=500 if quick else 5000)
    rows, memory_rows = (10_000, 10_000) if quick else (100_000, 100_000)
    print(
        f"connector: {rows:,} rows through Kafka; memory at {memory_rows:,} and "
        f"{memory_rows * 10:,} rows (the larger dry run takes minutes) ...",
        flush=True,
    )
    kafka, opa = services(config)
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_connector.run(kafka, Path(folder), rows, memory_rows)
    events, seconds = (1000, 3) if quick else (5000, 10)
    print(
        f"enforcer: {events:,} events through the enforcer and a bare copier; decision "
        f"cost; latency at 1,000 and 200 events/s for {seconds} s ...",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_enforcer.run(kafka, opa, Path(folder), events, seconds)
    shared = 20_000 if quick else 1_000_000
    print(
        f"views: rebuild from {shared:,} shared events; publish -> view latency at 1,000 and "
        f"200 events/s for {seconds} s ...",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_views.run(kafka, opa, Path(folder), shared, seconds)
    incidents = 5_000 if quick else 50_000
    print(f"views: disclosure control per request over {incidents:,} incidents ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_disclosure.run(Path(folder), incidents)
    records = 50_000 if quick else 300_000
    print(
        f"kafka: the broker's ceiling with its own perf tools ({records:,} records) ...", flush=True
    )
    results += bench_kafka.run(kafka, records)
    rows = 10_000 if quick else 100_000
    print(f"audit: ledger append and verify at {rows:,} and {rows * 10:,} rows ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_audit.run(Path(folder), rows)
    md, js = write_report(with_ceilings(results), config.state_dir / "bench", previous)
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
