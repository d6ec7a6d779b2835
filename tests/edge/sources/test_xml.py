"""XML extracts: records as rows, a header as context, an XSD checked first,
and hostile files (entities, malformed) refused without reading anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import XmlSource
from edge.sources import Notice, Problem, SourceError, SourceRow
from edge.sources.xml import XmlReader

FORMATS = Path(__file__).parents[2] / "fixtures" / "formats"
CONTEXT = {"SiteCode": "Header/SiteCodeOfTreatment", "PeriodEnd": "Header/ReportingPeriodEndDate"}


def read(
    path: Path, required: set[str] | None = None, xsd: Path | None = None, **context: str
) -> list[SourceRow | Problem | Notice]:
    spec = XmlSource(str(path), "Attendance", context or CONTEXT, xsd)
    return list(XmlReader(spec).rows(path, required or set()))


def rows(found: list[SourceRow | Problem | Notice]) -> list[SourceRow]:
    assert all(isinstance(r, SourceRow) for r in found), found
    return [r for r in found if isinstance(r, SourceRow)]


def test_records_are_rows_with_the_header_as_context() -> None:
    found = rows(read(FORMATS / "istv.xml", {"ArrivalDateTime"}, FORMATS / "istv.xsd"))
    assert [r.number for r in found] == [10, 17, 23]  # the line each record starts on
    first = found[0].values
    assert first["ArrivalDateTime"] == "2026-11-06T23:40:00"
    assert first["AssaultMethod"] == "02"
    assert first["SiteCode"] == "RRK15" and first["PeriodEnd"] == "2026-11-30"
    assert first["AssaultLocationDescription"] == "outside a takeaway"
    # An item a record leaves out is blank (absent), not an error.
    assert "AssaultLocationDescription" not in found[1].values
    assert found[1].row_hash != found[2].row_hash  # rows differ by content


def test_paths_attributes_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "nested.xml"
    path.write_text(
        '<r xmlns:x="urn:x"><Attendance id="A1"><x:Injury code="52684005">'
        "<Drug>alcohol</Drug><Drug>cannabis</Drug></x:Injury><Note/></Attendance></r>",
        encoding="utf-8",
    )
    (row,) = rows(read(path, set(), None, Unused="Header/X"))
    assert row.values == {
        "@id": "A1",
        "Injury/@code": "52684005",
        "Injury/Drug": "alcohol;cannabis",
        "Note": "",
    }


def test_a_column_no_record_has_is_noted_once_after_the_rows(tmp_path: Path) -> None:
    """An optional item no record has is normal in XML, and so is a misspelt
    name: a notice says which, and rejects nothing."""
    found = read(FORMATS / "istv.xml", {"ArrivalDateTime", "ArrivalTime"})
    assert [type(r).__name__ for r in found] == ["SourceRow"] * 3 + ["Notice"]
    notice = found[-1]
    assert isinstance(notice, Notice) and notice.source == str(FORMATS / "istv.xml")
    assert "no <Attendance> has ArrivalTime" in notice.message
    assert "ArrivalDateTime" in notice.message  # what the records do have


def test_a_file_failing_the_xsd_is_refused_before_any_row(tmp_path: Path) -> None:
    text = (FORMATS / "istv.xml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.xml"
    bad.write_text(
        text.replace(
            "<AssaultMethod>01</AssaultMethod>", "<AssaultMethod>knife</AssaultMethod>", 1
        ),
        encoding="utf-8",
    )
    reader = XmlReader(XmlSource(str(bad), "Attendance", CONTEXT, FORMATS / "istv.xsd"))
    rows_iter = reader.rows(bad, set())
    with pytest.raises(
        SourceError,
        match=r"bad\.xml: does not match the schema .*istv\.xsd: .*AssaultMethod.*knife",
    ):
        next(rows_iter)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<r><Attendance><A>1</A></Attendance>", "is not well-formed XML"),
        ("", "is not well-formed XML"),
        ("<r><Other/></r>", "no <Attendance> element"),
    ],
)
def test_unusable_files_are_refused_before_any_row(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        read(path)


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    """XXE: a file that asks for a local file's content gets none of it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    path = tmp_path / "xxe.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<r><Attendance><A>&x;</A></Attendance></r>",
        encoding="utf-8",
    )
    try:
        found = read(path)
    except SourceError:
        return  # refused outright: nothing read
    assert "TOP-SECRET-VALUE" not in repr(found)


def test_entity_expansion_does_not_blow_up(tmp_path: Path) -> None:
    """A 'billion laughs' file is refused or left unexpanded, in little memory."""
    entities = '<!ENTITY a0 "laugh">' + "".join(
        f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
    )
    path = tmp_path / "laughs.xml"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE r [{entities}]>'
        "<r><Attendance><A>&a9;</A></Attendance></r>",
        encoding="utf-8",
    )
    before = rss()
    try:
        found = read(path)
    except SourceError:
        found = []
    assert rss() - before < 50 * 2**20  # expanded, it would be 5 GB
    assert all(len(str(r)) < 10_000 for r in found)


def rss() -> int:
    """This process's resident memory in bytes (lxml's trees are C memory,
    which tracemalloc does not see)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_flat_over_many_records(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    record = (
        "<Attendance><ArrivalDateTime>2026-11-06T23:40:00</ArrivalDateTime>"
        "<AssaultMethod>02</AssaultMethod><AssaultLocationType>01</AssaultLocationType>"
        "</Attendance>\n"
    )
    with path.open("w", encoding="utf-8") as out:
        out.write("<IstvSubmission><Header><SiteCodeOfTreatment>RRK15</SiteCodeOfTreatment>")
        out.write("</Header><Attendances>\n")
        for _ in range(100_000):
            out.write(record)
        out.write("</Attendances></IstvSubmission>\n")
    reader = XmlReader(
        XmlSource(str(path), "Attendance", {"SiteCode": "Header/SiteCodeOfTreatment"})
    )
    before = rss()
    grown = 0
    count = 0
    for item in reader.rows(path, {"ArrivalDateTime"}):
        assert isinstance(item, SourceRow) and item.values["SiteCode"] == "RRK15"
        count += 1
        if count % 5000 == 0:
            grown = max(grown, rss() - before)
    assert count == 100_000
    # The file is 16 MB; a tree of it kept in memory takes over 60 MB.
    assert grown < 16 * 2**20, grown
