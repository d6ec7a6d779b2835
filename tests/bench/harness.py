"""A small benchmark harness: every figure beside a baseline measured in the same run.

These machines are shared and noisy, so absolute rates mean little; the
ratio to a baseline measured moments before, on the same data, is what a
change can be judged by. Each measurement takes the best of several rounds.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Result:
    group: str
    name: str
    rate: float  # operations per second (best round)
    baseline: str
    baseline_rate: float
    unit: str = "ops/s"
    note: str = ""  # printed under the table, e.g. that a rate was not kept up

    @property
    def ratio(self) -> float:
        """Our rate as a fraction of the baseline's (1.0 = as fast)."""
        return self.rate / self.baseline_rate if self.baseline_rate else float("nan")


def rate(operation: Callable[[], object], count: int, rounds: int = 5) -> float:
    """Operations per second of ``operation`` (which performs ``count`` operations)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - started)
    return count / best


def machine() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": str(os.cpu_count()),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def kept_up(offered: int, count: int, done_ms: Sequence[float]) -> str:
    """A note when a paced run was not kept up: then its latency is the
    queue's, which grows with the run's length, not a steady-state figure.
    The rate processed is over the span of the completions, which a constant
    latency does not stretch."""
    span = (max(done_ms) - min(done_ms)) / 1000 if done_ms else 0.0
    achieved = (count - 1) / max(span, 1e-3)
    if achieved >= 0.9 * offered:
        return ""
    return (
        f"not kept up: {offered:,} events/s offered, {achieved:,.0f} events/s processed "
        "(first to last done), so this latency is the queue's, and grows with the "
        "length of the run"
    )


def write_report(results: list[Result], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    info = machine()
    json_path = folder / "report.json"
    json_path.write_text(
        json.dumps(
            {
                "machine": info,
                "results": [{**asdict(r), "ratio": r.ratio} for r in results],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    lines = [
        "# svdhub benchmark report",
        "",
        ", ".join(f"{k}: {v}" for k, v in info.items()),
        "",
        "| group | measurement | rate | baseline (same run) | baseline rate | ratio |",
        "|---|---|---:|---|---:|---:|",
    ]
    lines += [
        f"| {r.group} | {r.name} | {r.rate:,.0f} {r.unit} | {r.baseline} | "
        f"{r.baseline_rate:,.0f} {r.unit} | {r.ratio:.2f} |"
        for r in results
    ]
    notes = [f"- {r.name}: {r.note}" for r in results if r.note]
    if notes:
        lines += ["", "Notes:", "", *notes]
    lines += [
        "",
        "ratio = figure / baseline. For rates, below 1 is slower than the baseline; "
        "for latencies (ms), above 1 is slower.",
    ]
    md_path = folder / "report.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md_path, json_path
