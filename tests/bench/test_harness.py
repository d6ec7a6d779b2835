"""The benchmark report: ratios, and a note when a paced run was not kept up."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.harness import Result, kept_up, write_report


def test_kept_up_is_silent_when_the_rate_was_kept() -> None:
    # 2,000 events offered at 200/s, the last one done 10.2 s after the first was sent
    assert kept_up(200, 2000, 0, 10_200) == ""


def test_kept_up_names_the_rate_processed_when_it_was_not() -> None:
    note = kept_up(1000, 10_000, 0, 25_000)
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
