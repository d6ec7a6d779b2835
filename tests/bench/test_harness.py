"""The benchmark report: ratios, and a note when a paced run was not kept up."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import bench_disclosure
from tests.bench.harness import Result, kept_up, load_previous, write_report


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


def test_each_figure_has_a_line_beside_the_previous_report(tmp_path: Path) -> None:
    before = [
        Result("enforcer", "events/s", 400.0, "bare", 800.0, "events/s"),
        Result("wire", "encode", 1000.0, "fastavro", 2000.0, "events/s"),
    ]
    _, old = write_report(before, tmp_path / "before")
    data = json.loads(old.read_text(encoding="utf-8"))
    old.write_text(json.dumps({**data, "label": "PLAINTEXT, commit abc"}), encoding="utf-8")
    previous = load_previous(old)
    assert previous is not None
    assert previous.label == "PLAINTEXT, commit abc"

    now = [
        Result("enforcer", "events/s", 300.0, "bare", 500.0, "events/s"),
        Result("kafka", "new one", 1.0, "base", 1.0, "records/s"),
    ]
    md, js = write_report(now, tmp_path / "now", previous)
    text = md.read_text(encoding="utf-8")
    assert "Previous: PLAINTEXT, commit abc" in text
    assert (
        "- enforcer | events/s: now 300 events/s, before 400 events/s (x0.75); "
        "same-run ratio now 0.60, before 0.50 (x1.20)"
    ) in text
    assert "- kafka | new one: no like measurement in the previous report" in text
    assert "[before" not in text
    assert json.loads(js.read_text(encoding="utf-8"))["previous"]["label"] == previous.label


def test_no_previous_report_is_no_comparison(tmp_path: Path) -> None:
    assert load_previous(tmp_path / "missing.json") is None
    md, _ = write_report([Result("g", "x", 1.0, "b", 1.0)], tmp_path)
    assert "previous" not in md.read_text(encoding="utf-8")


def test_a_measurement_at_other_sizes_is_compared_and_says_so(tmp_path: Path) -> None:
    _, old = write_report(
        [Result("views", "rebuild from 20,000 shared events", 900.0, "bare", 3000.0)],
        tmp_path / "before",
    )
    previous = load_previous(old)
    assert previous is not None
    now = [Result("views", "rebuild from 1,000,000 shared events", 1000.0, "bare", 2500.0)]
    md, _ = write_report(now, tmp_path / "now", previous)
    assert (
        "- views | rebuild from 1,000,000 shared events: now 1,000 ops/s, before 900 ops/s "
        "(x1.11); same-run ratio now 0.40, before 0.30 (x1.33) "
        "[before: rebuild from 20,000 shared events]"
    ) in md.read_text(encoding="utf-8")


def test_measurements_that_differ_only_in_rate_or_percentile_are_not_matched(
    tmp_path: Path,
) -> None:
    _, old = write_report(
        [Result("enforcer", "p50 latency at 1,000 events/s for 3 s", 16000.0, "bare", 10.0, "ms")],
        tmp_path / "before",
    )
    previous = load_previous(old)
    assert previous is not None
    now = [
        Result("enforcer", "p50 latency at 1,000 events/s for 10 s", 900.0, "bare", 9.0, "ms"),
        Result("enforcer", "p99 latency at 1,000 events/s for 10 s", 990.0, "bare", 9.0, "ms"),
        Result("enforcer", "p50 latency at 200 events/s for 10 s", 7.0, "bare", 3.0, "ms"),
    ]
    md, _ = write_report(now, tmp_path / "now", previous)
    text = md.read_text(encoding="utf-8")
    # p99 is never p50; with two p50 figures at other rates, neither is guessed.
    assert "- enforcer | p99 latency at 1,000 events/s for 10 s: no like measurement" in text
    assert "- enforcer | p50 latency at 200 events/s for 10 s: no like measurement" in text
    assert "- enforcer | p50 latency at 1,000 events/s for 10 s: no like measurement" in text


def test_the_disclosure_bench_measures_each_table_beside_its_baseline(tmp_path: Path) -> None:
    results = bench_disclosure.run(tmp_path, 300)
    assert [r.name for r in results] == [
        f"{table}: {how}"
        for table in bench_disclosure.TABLES
        for how in ("through the layer", "the whole API request")
    ]
    assert all(r.rate > 0 and r.baseline_rate > 0 and "unprotected" in r.baseline for r in results)
