"""Generated runs shared by the synthetic data tests, and ways to read them.

``two_weeks`` and ``long_run`` (45 days, long enough for outcomes) are
generated once per test module into its own temporary folder; tests only
read them.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest

from edge import synthetic
from edge.synthetic import Manifest
from wire.geography import GeographyLookup

DAYS = 14
START = date(2026, 10, 1)
CSV_FILES = {
    synthetic.WMP_CRIME: "utf-8",
    synthetic.UHB_ISTV: "utf-8",
    synthetic.SWBH_ISTV: "cp1252",
    synthetic.WMAS_CALLOUTS: "utf-8",
    synthetic.YOS_OUTCOMES: "utf-8",
}
LOOKUP = GeographyLookup.synthetic_sample()


@dataclass(frozen=True)
class Run:
    out: Path
    manifest: Manifest
    messages: list[str]

    def rows(self, name: str) -> list[dict[str, str]]:
        text = (self.out / name).read_text(encoding=CSV_FILES[name])
        first, _, rest = text.partition("\n")
        assert first.rstrip("\r") == synthetic.synthetic_marker(self.manifest.seed)
        return list(csv.DictReader(io.StringIO(rest, newline="")))

    def referrals(self) -> list[dict[str, object]]:
        connection = sqlite3.connect(self.out / synthetic.YOUTH_SERVICE)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute("SELECT * FROM referrals")]
        finally:
            connection.close()


def run(out: Path, days: int = DAYS, seed: int = 1) -> Run:
    messages: list[str] = []
    manifest = synthetic.generate(out, days=days, seed=seed, start=START, progress=messages.append)
    return Run(out, manifest, messages)


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("two-weeks"))


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Long enough for outcomes (14-70 days after referral) to appear."""
    return run(tmp_path_factory.mktemp("long"), days=45)


def dmy_hm(value: str) -> datetime:
    return datetime.strptime(value, "%d/%m/%Y %H:%M")


def dmy(value: str) -> date:
    return datetime.strptime(value, "%d/%m/%Y").date()


def age(dob: date, on: date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def first_versions(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each crime's first version (not the later row that withdraws it, if any)."""
    return [row for row in rows if row["RecordVersion"] == "1" and row["Status"] == "Active"]
