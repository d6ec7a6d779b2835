"""The benchmark report: ratios, and a note when a paced run was not kept up."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.harness import Result, kept_up, write_report


def test_kept_up_is_silent_when_the_rate_was_kept() -> None:
    # 2,001 events at 200/s, done 5 ms apart: however long the latency, it was kept up
    assert kept_up(200, 2001, [1_500 + 5 * n for n in range(2001)]) == ""


def test_kept_up_names_the_rate_processed_when_it_was_not() -> None:
    # 10,001 events offered at 1,000/s, done 2.5 ms apart
    note = kept_up(1000, 10_001, [2.5 * n for n in range(10_001)])
    assert "not kept up" in note
    assert "1,000 events/s offered, 400 events/s processed" in note


def test_report_has_every_figure_its_ratio_and_the_notes(tmp_path: Path) -> None:
    results = [
        Result("g", "fast", 50.0, "base", 100.0, "events/s"),
        Result("g", "p50", 300.0, "base p50", 100.0, "ms", "not kept up: ..."),
    ]
    md, js = write_report(results, tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "| g | fast | 50 events/s | base | 100 events/s | 0.50 |" in text
    assert "| g | p50 | 300 ms | base p50 | 100 ms | 3.00 |" in text
    assert "- p50: not kept up: ..." in text
    data = json.loads(js.read_text(encoding="utf-8"))
    assert [r["ratio"] for r in data["results"]] == [0.5, 3.0]
    assert data["machine"]["cpus"]
