"""The partnership file: its area and districts, and every way it can be wrong."""

from pathlib import Path

import pytest
import yaml

from wire.partnership import DEMO_PATH, Partnership, PartnershipError

POLICIES = Path(__file__).resolve().parents[2] / "policies"
GOOD = {
    "name": "Test partnership",
    "area": {"code": "E12000005", "name": "West Midlands"},
    "districts": {"E08000026": "Coventry", "E08000025": "Birmingham"},
}


def written(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "partnership.yaml"
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_a_good_file_loads_with_districts_in_code_order(tmp_path: Path) -> None:
    partnership = Partnership.load(written(tmp_path, GOOD))
    assert partnership.name == "Test partnership"
    assert (partnership.area_code, partnership.area_name) == ("E12000005", "West Midlands")
    assert list(partnership.districts) == ["E08000025", "E08000026"]
    assert "E08000025" in partnership and "E08000027" not in partnership and 7 not in partnership
    with pytest.raises(TypeError):
        partnership.districts["E08000027"] = "Dudley"  # type: ignore[index]


def test_the_projects_partnership_and_the_demos_name_the_same_districts() -> None:
    ours = Partnership.load(POLICIES / "partnership.yaml")
    demo = Partnership.demo()
    assert demo.source == str(DEMO_PATH)
    assert dict(ours.districts) == dict(demo.districts)
    assert len(ours.districts) == 7 and ours.area_code == demo.area_code == "E12000005"
    assert "SYNTHETIC" in demo.name and "SYNTHETIC" not in ours.name


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"name": ""}, "name: must be a non-empty string"),
        ({"area": {"code": "E12000005"}}, "area: must be a mapping with code and name"),
        ({"area": {"code": "WM", "name": "x"}}, "area.code: 'WM' is not a GSS code"),
        ({"area": {"code": "E12000005", "name": " "}}, "area.name: must be a non-empty string"),
        ({"districts": {}}, "districts: must be a non-empty mapping"),
        ({"districts": ["E08000025"]}, "districts: must be a non-empty mapping"),
        ({"districts": {"E01000001": "an LSOA"}}, "'E01000001' is not a local authority district"),
        ({"districts": {"E08000025": ""}}, "districts.E08000025: must be the district's name"),
        ({"extra": 1}, "unknown keys: extra"),
    ],
)
def test_every_problem_names_the_file_and_the_key(
    tmp_path: Path, change: dict[str, object], where: str
) -> None:
    path = written(tmp_path, {**GOOD, **change})
    with pytest.raises(PartnershipError, match=where) as caught:
        Partnership.load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_keys_unreadable_and_absent_files(tmp_path: Path) -> None:
    with pytest.raises(PartnershipError, match="missing keys: districts"):
        Partnership.load(written(tmp_path, {"name": "x", "area": GOOD["area"]}))
    with pytest.raises(PartnershipError, match="must be a mapping"):
        Partnership.load(written(tmp_path, ["a list"]))
    with pytest.raises(PartnershipError, match="partnership file not found"):
        Partnership.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(PartnershipError, match="not valid YAML"):
        Partnership.load(bad)


def test_of_checks_values_like_the_loader() -> None:
    made = Partnership.of("P", ("E23000014", "West Midlands PFA"), {"W06000001": "Anglesey"}, "t")
    assert made.area_code == "E23000014" and list(made.districts) == ["W06000001"]
    with pytest.raises(PartnershipError, match=r"t: area\.code"):
        Partnership.of("P", ("x", "y"), {"E08000025": "B"}, "t")
