"""``make bench``: run every benchmark and write one report.

Usage: python -m tests.bench [--quick]. The report goes to .hub/bench/
(Markdown and JSON); each figure stands beside a baseline from the same run.
"""

from __future__ import annotations

import sys

from hub.stack import StackConfig
from tests.bench import bench_wire
from tests.bench.harness import write_report


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    results = []
    print("wire: encode+sign and verify+decode ...", flush=True)
    results += bench_wire.run(count=500 if quick else 5000)
    md, js = write_report(results, StackConfig.load().state_dir / "bench")
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
