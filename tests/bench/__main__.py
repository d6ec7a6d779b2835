"""``make bench``: run every benchmark and write one report.

Usage: python -m tests.bench [--quick]. Kafka comes from KAFKA_BOOTSTRAP_SERVERS,
else the local stack is brought up (``svdhub stack up``). The report goes to
.hub/bench/ (Markdown and JSON); each figure stands beside a baseline measured
in the same run. --quick uses sizes ten times smaller.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from hub.stack import Stack, StackConfig
from tests.bench import bench_connector, bench_wire
from tests.bench.harness import Result, write_report


def bootstrap(config: StackConfig) -> str:
    if value := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return value
    stack = Stack(config, only=["kafka"], say=lambda msg: print(msg, file=sys.stderr))
    stack.up()
    return stack.env()["KAFKA_BOOTSTRAP_SERVERS"]


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
    with tempfile.TemporaryDirectory(prefix="svdhub-bench-") as folder:
        results += bench_connector.run(bootstrap(config), Path(folder), rows, memory_rows)
    md, js = write_report(results, config.state_dir / "bench")
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
