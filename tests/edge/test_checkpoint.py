from pathlib import Path

from edge.checkpoint import Checkpoint


def test_a_finished_batch_is_published(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    batch = cp.begin_batch(
        "svd.raw.wmp.incident", {0: 10}, [("f.csv", "h1", "e1"), ("f.csv", "h2", "e2")]
    )
    assert not cp.is_published("f.csv", "h1")
    cp.finish_batch(batch)
    assert cp.is_published("f.csv", "h1")
    assert cp.pending_batches() == []
    assert cp.published_count() == 2


def test_an_unfinished_batch_survives_a_restart_and_resolves_by_event_id(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    cp.begin_batch("t", {0: 5, 1: 7}, [("f", "h1", "e1"), ("f", "h2", "e2"), ("f", "h3", "e3")])
    cp.close()  # as if killed after producing part of the batch

    again = Checkpoint(tmp_path / "cp.sqlite")
    (pending,) = again.pending_batches()
    assert pending.topic == "t"
    assert pending.start_offsets == {0: 5, 1: 7}
    assert again.resolve_batch(pending.batch, {"e1", "e3"}) == 2
    assert again.is_published("f", "h1")
    assert not again.is_published("f", "h2")  # not in Kafka: the next run publishes it
    assert again.is_published("f", "h3")
    assert again.pending_batches() == []


def test_watermarks_advance_with_the_batch(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    assert cp.watermark("sql:x") is None
    cp.finish_batch(cp.begin_batch("t", {}, [("sql:x", "h", "e")]), ("sql:x", "2026-10-02"))
    cp.finish_batch(cp.begin_batch("t", {}, [("sql:x", "h2", "e2")]), ("sql:x", "2026-10-05"))
    assert cp.watermark("sql:x") == "2026-10-05"
