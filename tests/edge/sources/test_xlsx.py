"""XLSX extracts: one sheet read-only, cells written as they would be typed,
the sheet's own row numbers, and unusable workbooks refused clearly."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path

import pytest
from openpyxl import Workbook

from edge.config import XlsxSource
from edge.sources import Problem, SourceError, SourceRow
from edge.sources.xlsx import XlsxReader


def workbook(path: Path, rows: list[list[object]], sheet: str = "Referrals") -> Path:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    book.create_sheet("Notes").append(["not the data"])
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def read(path: Path, required: set[str] | None = None, **spec: object) -> list[SourceRow | Problem]:
    source = XlsxSource(str(path), **spec)  # type: ignore[arg-type]
    return list(XlsxReader(source).rows(path, required or set()))


def test_cells_are_text_as_typed(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "r.xlsx",
        [
            ["Referral ID", "Referred", "Time", "Count", "Score", "Looked after", "Notes"],
            ["R-1", datetime(2026, 11, 6, 0, 0), time(9, 30), 3, 17.5, True, None],
            ["R-2", datetime(2026, 11, 7, 14, 5, 9), time(23, 59, 59), 4.0, 0.1, False, "x"],
            [None, None, None, None, None, None, None],  # an empty row: left out
            ["R-3", date(2026, 11, 8), None, -2, 1e20, None, "=SUM(A1)"],
        ],
    )
    found = read(path, {"Referral ID"})
    assert all(isinstance(r, SourceRow) for r in found)
    rows = [r for r in found if isinstance(r, SourceRow)]
    assert [r.number for r in rows] == [2, 3, 5]  # the sheet's own rows
    assert rows[0].values == {
        "Referral ID": "R-1",
        "Referred": "2026-11-06 00:00:00",  # a date and time (its format has hours)
        "Time": "09:30:00",
        "Count": "3",
        "Score": "17.5",
        "Looked after": "TRUE",
        "Notes": "",
    }
    assert rows[1].values["Referred"] == "2026-11-07 14:05:09"
    assert rows[1].values["Count"] == "4"  # a whole float is written as a whole number
    assert rows[1].values["Looked after"] == "FALSE"
    assert rows[2].values["Referred"] == "2026-11-08"  # a date cell: no hours in its format
    assert rows[2].values["Count"] == "-2" and rows[2].values["Score"] == "1e+20"
    # A formula never calculated by Excel has no saved value: blank, never the formula.
    assert rows[2].values["Notes"] == ""


def test_the_sheet_and_header_row_are_chosen(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "r.xlsx",
        [["Council referrals export"], [], ["ID", "Area"], ["R-1", "E01900001"]],
    )
    (row,) = read(path, {"ID"}, sheet="Referrals", header_row=3)
    assert isinstance(row, SourceRow) and row.values == {"ID": "R-1", "Area": "E01900001"}
    assert row.number == 4
    with pytest.raises(SourceError, match=r"no sheet 'Data' \(the workbook has Referrals, Notes\)"):
        read(path, sheet="Data")
    with pytest.raises(SourceError, match=r"missing column\(s\) Postcode"):
        read(path, {"Postcode"}, header_row=3)


def test_values_beyond_the_header_are_a_problem_not_a_stop(tmp_path: Path) -> None:
    path = workbook(tmp_path / "r.xlsx", [["ID"], ["R-1", "stray"], ["R-2"]])
    first, second = read(path)
    assert isinstance(first, Problem) and first.number == 2
    assert "beyond the header's 1 columns" in first.reason
    assert isinstance(second, SourceRow) and second.values == {"ID": "R-2"}


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04broken"])
def test_a_file_that_is_no_workbook_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=r"bad\.xlsx: not a readable \.xlsx workbook"):
        read(path)


def test_a_workbook_declaring_entities_is_refused(tmp_path: Path) -> None:
    """A sheet whose XML declares entities ('billion laughs') is refused, not
    expanded (openpyxl parses with defusedxml)."""
    good = workbook(tmp_path / "good.xlsx", [["ID"], ["R-1"]])
    bad = tmp_path / "laughs.xlsx"
    entities = '<!ENTITY a0 "laugh">' + "".join(
        f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
    )
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8").split("?>", 1)[-1]  # after any declaration
                text = f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>{text}'
                data = text.replace("R-1", "&a9;").encode("utf-8")
            target.writestr(item, data)
    with pytest.raises(SourceError, match=r"laughs\.xlsx: not a readable .*EntitiesForbidden"):
        read(bad)


SST = (
    b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns='
    b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1">'
    b"%s</sst>"
)
SHARED_STRINGS_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
SHARED_STRINGS_REL = (
    b'<Relationship Id="rIdBomb" Type="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
)


def test_a_zip_bomb_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """A workbook whose shared strings unpack to 64 MiB from under 100 KiB:
    refused by its declared sizes, naming the part and the setting, before
    openpyxl (which holds the shared strings whole) reads any of it."""
    good = workbook(tmp_path / "good.xlsx", [["ID"], ["R-1"]])
    bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(good) as source,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":  # declare the part...
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            if item.filename == "xl/_rels/workbook.xml.rels":  # ...and link it
                data = data.replace(b"</Relationships>", SHARED_STRINGS_REL + b"</Relationships>")
            target.writestr(item.filename, data)
        huge = b"A" * (64 * 2**20)
        target.writestr("xl/sharedStrings.xml", SST % (b"<si><t>" + huge + b"</t></si>"))
    assert bomb.stat().st_size < 100 * 1024
    with pytest.raises(
        SourceError,
        match=r"bomb\.xlsx: would unpack to 64 MiB \(xl/sharedStrings\.xml: 64 MiB from .* "
        r"more than source\.xlsx\.max_unpacked_mb \(16\)",
    ):
        read(bomb, max_unpacked_mb=16)
    # Under the default limit the same workbook opens: the limit, not a broken
    # archive, is what refused it.
    assert [r.values for r in read(bomb) if isinstance(r, SourceRow)] == [{"ID": "R-1"}]
