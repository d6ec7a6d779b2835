"""A partnership's geography lookup: the synthetic sample and reading ONS files."""

import logging
from pathlib import Path

import pytest

from wire.geography import (
    Area,
    GeographyError,
    GeographyLookup,
    OutsidePartnership,
    UnknownArea,
)
from wire.partnership import Partnership

WM = Partnership.demo()
LADS = dict(WM.districts)

SAMPLE_SIZES = {
    "E08000025": 120,  # Birmingham
    "E08000026": 60,  # Coventry
    "E08000027": 50,  # Dudley
    "E08000028": 50,  # Sandwell
    "E08000029": 35,  # Solihull
    "E08000030": 45,  # Walsall
    "E08000031": 45,  # Wolverhampton
}

ONS_HEADER = "ObjectId,LSOA21CD,LSOA21NM,MSOA21CD,MSOA21NM,LAD23CD,LAD23NM\n"


def write(tmp_path: Path, text: str, name: str = "lookup.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def ons_row(n: int, lsoa: str, msoa: str, lad: str, lad_nm: str = "Birmingham") -> str:
    return f"{n},{lsoa},{lad_nm} 001A,{msoa},{lad_nm} 001,{lad},{lad_nm}\n"


# ------------------------------------------------------------ synthetic sample


def test_synthetic_sample_sizes_per_local_authority() -> None:
    lookup = GeographyLookup.synthetic_sample()
    assert lookup.synthetic is True
    assert len(lookup) == sum(SAMPLE_SIZES.values()) == 405
    assert {lad: len(lookup.lsoas(lad)) for lad in LADS} == SAMPLE_SIZES
    assert {lad: len(lookup.msoas(lad)) for lad in LADS} == {
        lad: size // 5 for lad, size in SAMPLE_SIZES.items()
    }
    assert lookup.partnership.area_code == "E12000005"
    assert lookup.uncovered == ()


def test_synthetic_sample_nests_and_uses_unused_code_ranges() -> None:
    lookup = GeographyLookup.synthetic_sample()
    lad_of_msoa: dict[str, set[str]] = {}
    lsoas_of_msoa: dict[str, int] = {}
    for code in lookup.lsoas():
        area = lookup.area(code)
        assert area.lsoa21cd.startswith("E019") and len(area.lsoa21cd) == 9
        assert area.msoa21cd.startswith("E029") and len(area.msoa21cd) == 9
        assert area.lsoa21nm.startswith("SYNTHETIC ")
        assert area.lsoa21nm.startswith(area.msoa21nm)
        assert area.lad_nm == LADS[area.lad_cd]
        lad_of_msoa.setdefault(area.msoa21cd, set()).add(area.lad_cd)
        lsoas_of_msoa[area.msoa21cd] = lsoas_of_msoa.get(area.msoa21cd, 0) + 1
    assert all(len(lads) == 1 for lads in lad_of_msoa.values())
    assert set(lsoas_of_msoa.values()) == {5}
    assert len({next(iter(lads)) for lads in lad_of_msoa.values()}) == 7
    assert lookup.lsoas() == sorted(lookup.lsoas())
    assert lookup.msoas() == sorted(lookup.msoas()) and len(lookup.msoas()) == 81


def test_synthetic_sample_file_is_marked() -> None:
    first = (Path(GeographyLookup.synthetic_sample().source)).read_text("utf-8").splitlines()[0]
    assert first.startswith("# SYNTHETIC geography")


def test_area_lookup_and_unknown_area() -> None:
    lookup = GeographyLookup.synthetic_sample()
    assert lookup.area("E01900001") == Area(
        lsoa21cd="E01900001",
        lsoa21nm="SYNTHETIC Birmingham 001A",
        msoa21cd="E02900001",
        msoa21nm="SYNTHETIC Birmingham 001",
        lad_cd="E08000025",
        lad_nm="Birmingham",
    )
    assert "E01900001" in lookup
    assert "E01000001" not in lookup
    assert 42 not in lookup
    with pytest.raises(UnknownArea, match="E01000001"):
        lookup.area("E01000001")
    with pytest.raises(UnknownArea, match="E09000001"):
        lookup.lsoas("E09000001")


@pytest.mark.parametrize("setting", [None, "", "  "])
def test_no_geography_set_is_an_error_that_says_what_to_set(setting: str | None) -> None:
    with pytest.raises(GeographyError, match="no geography lookup is set") as caught:
        GeographyLookup.load(setting, WM)
    assert "ONS" in str(caught.value) and "'synthetic'" in str(caught.value)


def test_the_synthetic_sample_only_by_name() -> None:
    assert GeographyLookup.load("synthetic", None).synthetic is True
    assert GeographyLookup.load(" synthetic ", WM).partnership is WM


def test_an_ons_file_needs_its_partnership(tmp_path: Path) -> None:
    path = write(tmp_path, ONS_HEADER + ons_row(1, "E01009001", "E02001801", "E08000025"))
    with pytest.raises(GeographyError, match="needs the partnership") as caught:
        GeographyLookup.load(path, None)
    assert str(path) in str(caught.value)
    assert GeographyLookup.load(str(path), WM).area("E01009001").lad_cd == "E08000025"


# ----------------------------------------------------------------- ONS files


def test_load_ons_happy_path(tmp_path: Path) -> None:
    text = (
        ONS_HEADER.lower().replace("objectid", "ObjectId")
        + ons_row(1, "E01000001", "E02000001", "E09000001", "City of London")
        + ons_row(2, "E01009001", "E02001801", "E08000025")
        + ons_row(3, "E01009002", "E02001801", "E08000025")
        + ons_row(4, "E01009002", "E02001801", "E08000025")  # an OA-level repeat: merged
        + ons_row(5, "E01010001", "E02002001", "E08000028", "Sandwell")
        + ons_row(6, "W01000001", "W02000001", "W06000001", "Isle of Anglesey")
    )
    path = write(tmp_path, text, bom=True)
    lookup = GeographyLookup.load(path, WM)
    assert lookup.synthetic is False
    assert lookup.source == str(path)
    assert lookup.lsoas() == ["E01009001", "E01009002", "E01010001"]
    assert lookup.lsoas("E08000028") == ["E01010001"]
    assert lookup.msoas() == ["E02001801", "E02002001"]
    assert lookup.area("E01010001").lad_nm == "Sandwell"
    assert lookup.lsoas("E08000031") == []
    with pytest.raises(OutsidePartnership, match=r"City of London \(E09000001\)") as caught:
        lookup.area("E01000001")  # listed, in another district: outside, not unknown
    assert (caught.value.lad_cd, caught.value.lad_nm) == ("E09000001", "City of London")
    assert isinstance(caught.value, UnknownArea)  # callers catching UnknownArea still do
    with pytest.raises(OutsidePartnership, match="Isle of Anglesey"):
        lookup.area("W01000001")
    with pytest.raises(UnknownArea, match="not in the geography lookup") as unknown:
        lookup.area("E01999999")
    assert not isinstance(unknown.value, OutsidePartnership)
    with pytest.raises(UnknownArea, match="not a district of the partnership"):
        lookup.lsoas("E09000001")


def test_a_lookup_missing_districts_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        ONS_HEADER
        + ons_row(1, "E01009001", "E02001801", "E08000025")
        + ons_row(2, "E01010001", "E02002001", "E08000026", "Coventry")
    )
    path = write(tmp_path, text, name="two-of-seven.csv")
    with caplog.at_level(logging.WARNING, logger="wire.geography"):
        lookup = GeographyLookup.load_ons(path, WM)
    assert lookup.uncovered == tuple(
        code for code in LADS if code not in {"E08000025", "E08000026"}
    )
    warning = lookup.coverage_warning()
    assert str(path) in warning and "5 of the partnership's 7 districts" in warning
    assert "Wolverhampton (E08000031)" in warning and "Birmingham" not in warning
    assert [r.getMessage() for r in caplog.records] == [warning]
    assert GeographyLookup.synthetic_sample().coverage_warning() == ""


def test_the_partnership_not_the_code_decides_which_districts_count(tmp_path: Path) -> None:
    """The same national file read for another partnership keeps that one's LSOAs."""
    text = (
        ONS_HEADER
        + ons_row(1, "E01000001", "E02000001", "E09000001", "City of London")
        + ons_row(2, "E01009001", "E02001801", "E08000025")
        + ons_row(3, "E01004700", "E02000960", "E09000033", "Westminster")
    )
    london = Partnership.of(
        "Central London (test)",
        ("E12000007", "London"),
        {"E09000001": "City of London", "E09000033": "Westminster"},
        "test",
    )
    lookup = GeographyLookup.load_ons(write(tmp_path, text), london)
    assert lookup.lsoas() == ["E01000001", "E01004700"]
    assert lookup.partnership.area_code == "E12000007"
    with pytest.raises(OutsidePartnership, match="Birmingham"):
        lookup.area("E01009001")


def test_load_ons_accepts_any_lad_year_and_skips_comments(tmp_path: Path) -> None:
    text = (
        "# a comment\n"
        "LSOA21CD,LSOA21NM,MSOA21CD,MSOA21NM,LAD21CD,LAD21NM,LAD24CD,LAD24NM\n"
        "E01009001,B 001A,E02001801,B 001,E08000099,Old,E08000025,Birmingham\n"
    )
    lookup = GeographyLookup.load_ons(write(tmp_path, text), WM)
    assert lookup.area("E01009001").lad_cd == "E08000025"  # the latest year wins


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("LSOA21CD,LSOA21NM,MSOA21CD,LAD22CD,LAD22NM", "MSOA21NM"),
        ("LSOA21CD,LSOA21NM,MSOA21CD,MSOA21NM,LAD22CD", "LAD22NM"),
        ("LSOA21CD,LSOA21NM,MSOA21CD,MSOA21NM", "LADyyCD"),
    ],
)
def test_missing_column_names_file_and_column(tmp_path: Path, header: str, missing: str) -> None:
    path = write(tmp_path, header + "\n", name="partial.csv")
    with pytest.raises(GeographyError, match=missing) as caught:
        GeographyLookup.load_ons(path, WM)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("2,E0100900X,B 001A,E02001801,B 001,E08000025,Birmingham", "LSOA21CD"),
        ("2,E01009001,B 001A,E0200180,B 001,E08000025,Birmingham", "MSOA21CD"),
        ("2,E01009001,B 001A,E02001801,B 001,Birmingham,E08000025", "LAD23CD"),
        ("2,E01009001,,E02001801,B 001,E08000025,Birmingham", "LSOA21NM"),
    ],
)
def test_bad_code_names_file_row_and_column(tmp_path: Path, row: str, column: str) -> None:
    text = ONS_HEADER + ons_row(1, "E01009000", "E02001801", "E08000025") + row + "\n"
    path = write(tmp_path, text, name="bad.csv")
    with pytest.raises(GeographyError) as caught:
        GeographyLookup.load_ons(path, WM)
    message = str(caught.value)
    assert str(path) in message
    assert "row 3" in message
    assert f"column {column}" in message


def test_conflicting_duplicate_lsoa_names_both_rows(tmp_path: Path) -> None:
    text = (
        ONS_HEADER
        + ons_row(1, "E01009001", "E02001801", "E08000025")
        + ons_row(2, "E01009002", "E02001801", "E08000025")
        + ons_row(3, "E01009001", "E02001802", "E08000025")
    )
    path = write(tmp_path, text, name="dupes.csv")
    with pytest.raises(GeographyError, match="E01009001") as caught:
        GeographyLookup.load_ons(path, WM)
    message = str(caught.value)
    assert str(path) in message and "row 2" in message and "row 4" in message


def test_msoa_in_two_local_authorities_is_refused(tmp_path: Path) -> None:
    text = (
        ONS_HEADER
        + ons_row(1, "E01009001", "E02001801", "E08000025")
        + ons_row(2, "E01009002", "E02001801", "E08000028", "Birmingham")
    )
    with pytest.raises(GeographyError, match=r"E02001801.*row 2 and row 3"):
        GeographyLookup.load_ons(write(tmp_path, text), WM)


def test_a_lookup_with_no_row_in_the_partnership_is_an_error(tmp_path: Path) -> None:
    text = ONS_HEADER + ons_row(1, "E01000001", "E02000001", "E09000001", "City of London")
    path = write(tmp_path, text, name="london.csv")
    with pytest.raises(
        GeographyError, match="no rows for any district of the partnership"
    ) as caught:
        GeographyLookup.load_ons(path, WM)
    assert str(path) in str(caught.value)


def test_unreadable_files_are_geography_errors(tmp_path: Path) -> None:
    with pytest.raises(GeographyError, match=r"missing\.csv"):
        GeographyLookup.load_ons(tmp_path / "missing.csv", WM)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(ONS_HEADER.encode() + b"1,E01009001,Caf\xe9,E02001801,B,E08000025,B\n")
    with pytest.raises(GeographyError, match="UTF-8"):
        GeographyLookup.load_ons(latin, WM)
    with pytest.raises(GeographyError, match="empty"):
        GeographyLookup.load_ons(write(tmp_path, "", name="empty.csv"), WM)


def test_short_row_is_refused(tmp_path: Path) -> None:
    text = ONS_HEADER + "1,E01009001,B 001A\n"
    with pytest.raises(GeographyError, match="row 2 has 3 fields"):
        GeographyLookup.load_ons(write(tmp_path, text), WM)


def test_constructor_refuses_conflicting_areas() -> None:
    one = Area("E01009001", "A", "E02001801", "M", "E08000025", "Birmingham")
    two = Area("E01009001", "A", "E02001802", "M", "E08000025", "Birmingham")
    with pytest.raises(GeographyError, match="E01009001"):
        GeographyLookup([one, two], synthetic=False, source="test", partnership=WM)


def test_constructor_refuses_an_area_outside_the_partnership() -> None:
    city = Area("E01000001", "A", "E02000001", "M", "E09000001", "City of London")
    with pytest.raises(GeographyError, match="E09000001, not a district of the partnership"):
        GeographyLookup([city], synthetic=False, source="test", partnership=WM)


# ------------------------------------------------------------ 2011 -> 2021 LSOAs

BEST_FIT = "LSOA11CD,LSOA11NM,LSOA21CD,LSOA21NM,CHGIND,LAD22CD,LAD22NM,LAD22NMW,ObjectId\n"


def test_a_2011_code_is_placed_through_the_best_fit_lookup(tmp_path: Path) -> None:
    """police.uk used 2011 LSOAs until 2023: a code retired in 2021 (split or
    merged) is translated to its best-fit 2021 LSOA, and says it was."""
    lookup = GeographyLookup.synthetic_sample()
    text = BEST_FIT + (
        "E01900001,B 001A,E01900001,B 001A,U,E08000025,Birmingham,,1\n"  # unchanged
        "E01008881,B 055A,E01900002,B 001B,M,E08000025,Birmingham,,2\n"  # merged in 2021
        "E01008882,B 055B,E01900002,B 001B,M,E08000025,Birmingham,,3\n"
        "E01009999,C 001A,E01900121,C 001A,X,E08000026,Coventry,,4\n"
    )
    translating = lookup.with_lsoa11(write(tmp_path, text, "best-fit.csv", bom=True))
    assert translating.lsoa11_source == str(tmp_path / "best-fit.csv")
    assert translating.place("E01900001") == (lookup.area("E01900001"), None)
    assert translating.place("E01008881") == (lookup.area("E01900002"), "E01008881")
    assert translating.place("E01009999")[0].lad_cd == "E08000026"
    with pytest.raises(UnknownArea, match="E01000001"):
        translating.place("E01000001")
    with pytest.raises(UnknownArea):  # the lookup it was made from is unchanged
        lookup.place("E01008881")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("LSOA11CD,LSOA11NM\nE01008881,x\n", r"missing required column\(s\) LSOA21CD"),
        (BEST_FIT + "E0100888,B,E01900002,B,M,E08000025,B,,1\n", r"row 2, column LSOA11CD"),
        (
            BEST_FIT
            + "E01008881,B,E01900002,B,M,E08000025,B,,1\n"
            + "E01008881,B,E01900003,B,M,E08000025,B,,2\n",
            r"LSOA E01008881 is given E01900002 on row 2 and E01900003 on row 3",
        ),
        ("", "empty"),
        (BEST_FIT, "no rows"),
    ],
)
def test_a_bad_best_fit_lookup_names_the_file_and_row(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text, "best-fit.csv")
    with pytest.raises(GeographyError, match=message) as caught:
        GeographyLookup.synthetic_sample().with_lsoa11(path)
    assert str(path) in str(caught.value)
