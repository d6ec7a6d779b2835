"""A small benchmark harness: every figure beside a baseline measured in the same run.

These machines are shared and noisy, so absolute rates mean little; the
ratio to a baseline measured moments before, on the same data, is what a
change can be judged by. Each measurement takes the best of several rounds.

A report can also be set beside an earlier one (``previous``, e.g. the figures
recorded before Kafka was secured): one line per measurement with the figure
then and now, and both same-run ratios. The ratio of the two figures mixes the
change with the machine's noise between the runs; the ratio of the same-run
ratios leaves the noise out where the baseline pays the same change (as the
Kafka baselines pay TLS and SCRAM), and so shows the change's cost beyond it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
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


def processed(count: int, done_ms: Sequence[float]) -> float:
    """Events per second over the span of their completions (first to last
    done), which a constant latency does not stretch."""
    span = (max(done_ms) - min(done_ms)) / 1000 if done_ms else 0.0
    return (count - 1) / max(span, 1e-3)


def kept_up(offered: int, count: int, done_ms: Sequence[float]) -> str:
    """A note when a paced run was not kept up: then its latency is the
    queue's, which grows with the run's length, not a steady-state figure.
    The rate processed is over the span of the completions, which a constant
    latency does not stretch."""
    achieved = processed(count, done_ms)
    if achieved >= 0.9 * offered:
        return ""
    return (
        f"not kept up: {offered:,} events/s offered, {achieved:,.0f} events/s processed "
        "(first to last done), so this latency is the queue's, and grows with the "
        "length of the run"
    )


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) a running process has used so far; NaN
    where /proc does not say (not Linux, or the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return float("nan")
    # The fields after the command's closing parenthesis; utime and stime are 14 and 15.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Previous:
    """An earlier report's figures: what it was (``label``) and each measurement's
    (rate, baseline rate), by (group, name)."""

    label: str
    figures: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def find(
        self, group: str, name: str, names: Sequence[tuple[str, str]] = ()
    ) -> tuple[str, tuple[float, float]] | None:
        """The same measurement: by its name, else by its name with its sizes
        left out (sizes differ between ``--quick`` and a full run, and some
        names hold a figure), when that names one measurement here and one
        among ``names`` (this run's): its name there, and figures."""
        if (group, name) in self.figures:
            return name, self.figures[(group, name)]
        key = _sizeless(name)
        mine = [n for g, n in names if g == group and _sizeless(n) == key]
        theirs = [
            (n, f) for (g, n), f in self.figures.items() if g == group and _sizeless(n) == key
        ]
        if len(theirs) == 1 and len(mine) <= 1:
            return theirs[0]
        return None


def _sizeless(name: str) -> str:
    """``name`` with its sizes left out: numbers not part of a word (``p99``
    and ``age5`` stay)."""
    return re.sub(r"(?<![A-Za-z])\d[\d,.]*", "N", name)


def load_previous(path: Path | None) -> Previous | None:
    """The figures of a ``report.json`` (None if there is no such file). Its
    ``label``, if any, says what it measured (else its machine line does)."""
    if path is None or not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    label = data.get("label") or ", ".join(f"{k}: {v}" for k, v in data["machine"].items())
    return Previous(
        label,
        {(r["group"], r["name"]): (r["rate"], r["baseline_rate"]) for r in data["results"]},
    )


def compared(result: Result, previous: Previous, names: Sequence[tuple[str, str]] = ()) -> str:
    """One line: this figure beside the same measurement in ``previous``
    (``names``: every measurement of this run, to tell when sizes alone cannot
    say which one it was)."""
    found = previous.find(result.group, result.name, names)
    head = f"- {result.group} | {result.name}: "
    if found is None:
        return head + "no like measurement in the previous report"
    name, (rate, baseline) = found
    then = _over(rate, baseline)
    return (
        head
        + f"now {result.rate:,.0f} {result.unit}, before {rate:,.0f} {result.unit} "
        + f"(x{_over(result.rate, rate):.2f}); same-run ratio now {result.ratio:.2f}, "
        + f"before {then:.2f} (x{_over(result.ratio, then):.2f})"
        + ("" if name == result.name else f" [before: {name}]")
    )


def _over(a: float, b: float) -> float:
    return a / b if b else float("nan")


def write_report(
    results: list[Result], folder: Path, previous: Previous | None = None
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    info = machine()
    json_path = folder / "report.json"
    report: dict[str, object] = {
        "machine": info,
        "results": [{**asdict(r), "ratio": r.ratio} for r in results],
    }
    if previous is not None:
        report["previous"] = {
            "label": previous.label,
            "results": [
                {"group": g, "name": n, "rate": r, "baseline_rate": b}
                for (g, n), (r, b) in previous.figures.items()
            ],
        }
    json_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
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
    if previous is not None:
        lines += [
            "",
            "## Beside the previous figures",
            "",
            f"Previous: {previous.label}",
            "",
            *(compared(r, previous, [(x.group, x.name) for x in results]) for r in results),
            "",
            "xN = now / before. The first compares the figures (the change and the "
            "machine's noise between runs); the second the same-run ratios (the "
            "change beyond what the baseline pays too).",
        ]
    md_path = folder / "report.md"
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return md_path, json_path
