"""``make bench``: run every benchmark and write one report.

Usage: python -m tests.bench [--quick]. Kafka and OPA come from
KAFKA_BOOTSTRAP_SERVERS and OPA_URL, else the local stack is brought up. The report goes to
.hub/bench/ (Markdown and JSON); each figure stands beside a baseline measured
in the same run. --quick uses sizes ten times smaller.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from hub.settings import opa_token_file, read_token
from hub.stack import Stack, StackConfig
from tests.bench import (
    bench_audit,
    bench_connector,
    bench_enforcer,
    bench_kafka,
    bench_views,
    bench_wire,
)
from tests.bench.harness import Result, write_report
from tests.hub.enforcer.pipeline import OpaEndpoint


def services(config: StackConfig) -> tuple[str, OpaEndpoint]:
    """Kafka's bootstrap address, and OPA's URL with the enforcer's token: from the
    environment (KAFKA_BOOTSTRAP_SERVERS, OPA_URL, OPA_TOKEN), else the local stack."""
    kafka, opa = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("OPA_URL")
    token = os.environ.get("OPA_TOKEN", "")
    if opa and not token:
        raise SystemExit("OPA_URL is set but OPA_TOKEN (the enforcer's token for it) is not")
    if kafka and opa:
        return kafka, OpaEndpoint(opa, token)
    stack = Stack(config, only=["kafka", "opa"], say=lambda msg: print(msg, file=sys.stderr))
    stack.up()
    env = stack.env()
    if not opa:
        opa, token = env["OPA_URL"], read_token(opa_token_file("enforcer", config.state_dir))
    return kafka or env["KAFKA_BOOTSTRAP_SERVERS"], OpaEndpoint(opa, token)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
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
    records = 50_000 if quick else 300_000
    print(
        f"kafka: the broker's ceiling with its own perf tools ({records:,} records) ...", flush=True
    )
    results += bench_kafka.run(kafka, records)
    rows = 10_000 if quick else 100_000
    print(f"audit: ledger append and verify at {rows:,} and {rows * 10:,} rows ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_audit.run(Path(folder), rows)
    md, js = write_report(results, config.state_dir / "bench")
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
