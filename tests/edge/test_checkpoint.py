import sqlite3
from pathlib import Path

from edge.checkpoint import Checkpoint, PendingBatch


def test_a_finished_batch_is_published(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    batch = cp.begin_batch(
        "svd.raw.wmp.incident", {0: 10}, [("f.csv", "h1", "e1", 0), ("f.csv", "h2", "e2", 0)]
    )
    assert not cp.is_published("f.csv", "h1")
    cp.finish_batch(batch)
    assert cp.is_published("f.csv", "h1")
    assert cp.pending_batches() == []
    assert cp.published_count() == 2


def test_an_unfinished_batch_survives_a_restart_and_resolves_by_event_id(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    cp.begin_batch(
        "t", {0: 5, 1: 7}, [("f", "h1", "e1", 1), ("f", "h2", "e2", 0), ("f", "h3", "e3", 1)]
    )
    cp.close()  # as if killed after producing part of the batch

    again = Checkpoint(tmp_path / "cp.sqlite")
    (pending,) = again.pending_batches()
    assert pending.topic == "t"
    assert pending.start_offsets == {0: 5, 1: 7}
    # The rows in the order they were sent, each with the partition it went to.
    assert pending.rows == [("f", "h1", "e1", 1), ("f", "h2", "e2", 0), ("f", "h3", "e3", 1)]
    assert again.resolve_batch(pending.batch, {"e1", "e3"}) == 2
    assert again.is_published("f", "h1")
    assert not again.is_published("f", "h2")  # not in Kafka: the next run publishes it
    assert again.is_published("f", "h3")
    assert again.pending_batches() == []


def test_watermarks_advance_with_the_batch(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    assert cp.watermark("sql:x") is None
    cp.finish_batch(cp.begin_batch("t", {}, [("sql:x", "h", "e", 0)]), ("sql:x", "2026-10-02"))
    cp.finish_batch(cp.begin_batch("t", {}, [("sql:x", "h2", "e2", 0)]), ("sql:x", "2026-10-05"))
    assert cp.watermark("sql:x") == "2026-10-05"


def batch_of(start: dict[int, int], rows: list[tuple[str, int | None]]) -> PendingBatch:
    """A pending batch whose rows are (event id, partition), in the order sent."""
    return PendingBatch(1, "t", start, [("f", f"h-{e}", e, p) for e, p in rows])


def test_what_landed_is_the_first_rows_of_each_partition_by_the_end_offsets() -> None:
    batch = batch_of({0: 10, 1: 3}, [("a", 0), ("b", 1), ("c", 0), ("d", 1), ("e", 0)])
    assert batch.landed({0: 10, 1: 3}) == set()  # nothing reached either partition
    assert batch.landed({0: 12, 1: 4}) == {"a", "c", "b"}  # a prefix of each partition
    assert batch.landed({0: 11, 1: 3}) == {"a"}
    assert batch.landed({0: 13, 1: 5}) == {"a", "b", "c", "d", "e"}  # all of it
    # A partition the batch never wrote to, still where it was, is no obstacle.
    assert batch_of({0: 4, 1: 9}, [("a", 0)]).landed({0: 5, 1: 9}) == {"a"}
    # A partition the topic gained since (from no offset recorded) is counted from 0.
    assert batch_of({0: 4}, [("a", 0), ("b", 1)]).landed({0: 4, 1: 1}) == {"b"}


def test_offsets_that_do_not_fit_the_batch_tell_nothing() -> None:
    batch = batch_of({0: 10, 1: 3}, [("a", 0), ("b", 1), ("c", 0)])
    assert batch.landed({0: 13, 1: 3}) is None  # more than the batch sent to partition 0
    assert batch.landed({0: 10, 1: 5}) is None  # more than it sent to partition 1
    assert batch.landed({0: 9, 1: 3}) is None  # an end before the start (topic made anew)
    assert batch.landed({0: 10}) is None  # a partition gone
    assert batch_of({0: 0}, [("a", 0)]).landed({0: 1, 1: 1}) is None  # another writer on 1


def test_rows_recorded_without_a_partition_tell_nothing() -> None:
    """A batch begun before partitions were recorded (an older checkpoint)."""
    assert batch_of({0: 0}, [("a", 0), ("b", None)]).landed({0: 1}) is None
    assert batch_of({0: 0}, [("a", None)]).landed({0: 0}) is None


def test_a_checkpoint_from_before_partitions_were_recorded_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE batches (batch INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
            " start_offsets TEXT NOT NULL);"
            "CREATE TABLE pending (batch INTEGER NOT NULL, source TEXT NOT NULL,"
            " row_hash TEXT NOT NULL, event_id TEXT NOT NULL);"
            "INSERT INTO batches VALUES (1, 't', '{\"0\": 3}');"
            "INSERT INTO pending VALUES (1, 'f', 'h1', 'e1');"
        )
    db.close()
    cp = Checkpoint(path)
    (pending,) = cp.pending_batches()
    assert pending.rows == [("f", "h1", "e1", None)]
    assert pending.landed({0: 4}) is None  # so the whole batch is sent again


def test_many_rows_are_looked_up_at_once_as_one_at_a_time(tmp_path: Path) -> None:
    cp = Checkpoint(tmp_path / "cp.sqlite")
    published = [("f.csv", f"h{n}", f"e{n}", 0) for n in range(0, 1200, 3)]
    cp.finish_batch(cp.begin_batch("t", {0: 0}, published))
    cp.finish_batch(cp.begin_batch("t", {0: 0}, [("g.csv", "h1", "x", 0)]))
    asked = [f"h{n}" for n in range(1200)] + ["h1' OR '1'='1", "h3"]  # more than one query holds
    found = cp.published_of("f.csv", asked)
    assert found == {h for h in asked if cp.is_published("f.csv", h)}
    assert len(found) == len(published)
    assert cp.published_of("g.csv", asked) == {"h1"}
    assert cp.published_of("f.csv", []) == set()
