"""Coordinates placed in LSOAs (point-in-polygon), and a connector that places
police.uk's points: squares, a hole, a shared edge, bad files."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.boundaries import Boundaries, BoundaryError
from edge.config import ConfigError, ConnectorConfig
from edge.mapping import Mapper, RowError, RowSkipped
from tests.edge.test_filters import CONFIGS, POLICIES, PSEUDO, config_with, lookup, ons_lookup
from tests.edge.test_mapping import crime
from wire import schemas

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def square(west: float, south: float, size: float = 0.01) -> list[list[float]]:
    return [
        [west, south],
        [west + size, south],
        [west + size, south + size],
        [west, south + size],
        [west, south],
    ]


def feature(code: str, geometry: dict[str, Any], key: str = "LSOA21CD") -> dict[str, Any]:
    return {"type": "Feature", "properties": {key: code, "LSOA21NM": "x"}, "geometry": geometry}


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


#: Two Birmingham LSOAs side by side (sharing the edge at -1.90), one with a
#: hole that a third fills, and an LSOA in Stafford (outside the partnership).
FEATURES = [
    feature("E01900001", polygon(square(-1.91, 52.47))),
    feature("E01900002", polygon(square(-1.90, 52.47))),
    feature(
        "E01900003",
        polygon(square(-1.89, 52.47, 0.03), square(-1.88, 52.48)),  # with a hole
    ),
    feature("E01900121", polygon(square(-1.88, 52.48))),  # the hole (Coventry's code)
    feature(
        "E01028801",
        {"type": "MultiPolygon", "coordinates": [[square(-2.2, 52.8)], [square(-2.3, 52.9)]]},
        key="lsoa21cd",
    ),
]


def boundaries_file(folder: Path, features: list[dict[str, Any]] | None = None) -> Path:
    path = folder / "lsoa-boundaries.geojson"
    collection = {
        "type": "FeatureCollection",
        "features": FEATURES if features is None else features,
    }
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


def test_points_are_placed_in_their_lsoa(tmp_path: Path) -> None:
    shapes = Boundaries.load(boundaries_file(tmp_path))
    assert len(shapes) == 5
    assert shapes.locate(-1.905, 52.475) == "E01900001"
    assert shapes.locate(-1.895, 52.475) == "E01900002"
    assert shapes.locate(-1.875, 52.485) == "E01900121"  # in the hole: not E01900003
    assert shapes.locate(-1.865, 52.495) == "E01900003"
    assert shapes.locate(-2.295, 52.905) == "E01028801"  # the second part of a multipolygon
    assert shapes.locate(0.0, 51.5) is None
    # On the shared edge, the smaller code, whatever the file's order.
    assert shapes.locate(-1.90, 52.475) == "E01900001"
    backwards = Boundaries.load(boundaries_file(tmp_path, list(reversed(FEATURES))))
    assert backwards.locate(-1.90, 52.475) == "E01900001"


@settings(max_examples=200, deadline=None)
@given(st.floats(-1.91, -1.8901), st.floats(52.4701, 52.4799))
def test_every_point_of_two_squares_is_in_one_of_them(longitude: float, latitude: float) -> None:
    found = SHAPES.locate(longitude, latitude)
    expected = "E01900001" if longitude <= -1.90 else "E01900002"
    assert found == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a readable GeoJSON file"),
        (json.dumps({"type": "Feature"}), "not a GeoJSON FeatureCollection"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "has no features"),
        (
            json.dumps(
                {"type": "FeatureCollection", "features": [feature("", polygon(square(0, 0)))]}
            ),
            "feature 1: no LSOA21CD property",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [feature("E01900001", {"type": "Point", "coordinates": [0, 0]})],
                }
            ),
            r"feature 1 \(E01900001\): a Point, not a polygon",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [feature("E01900001", polygon(square(406000, 286000, 100)))],
                }
            ),
            "British National Grid",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        feature("E01900001", polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]))
                    ],
                }
            ),
            "not a valid polygon",
        ),
        (
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [FEATURES[0], FEATURES[0]],
                }
            ),
            "feature 2: LSOA E01900001 is given twice",
        ),
    ],
)
def test_a_bad_boundary_file_names_the_file_and_feature(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BoundaryError, match=message) as caught:
        Boundaries.load(path)
    assert str(path) in str(caught.value)


SHAPES = Boundaries.load(boundaries_file(Path(tempfile.mkdtemp(prefix="svdhub-boundaries-"))))


# ------------------------------------------------------------------ the connector


def point_config(tmp_path: Path) -> ConnectorConfig:
    """The WMP crime sample placing each crime by its coordinates (police.uk's
    Longitude and Latitude, which never leave the force)."""
    raw = yaml.safe_load((CONFIGS / "wmp-crime.yaml").read_text(encoding="utf-8"))
    raw["fields"]["geo"] = {"point": {"longitude": "Longitude", "latitude": "Latitude"}}
    raw["never_share"] = [*raw["never_share"], "Longitude", "Latitude"]
    raw["geography"] = {
        "lookup": str(ons_lookup(tmp_path)),
        "partnership": str(POLICIES / "partnership.yaml"),
        "boundaries": "lsoa-boundaries.geojson",
    }
    boundaries_file(tmp_path)
    path = tmp_path / "points.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return ConnectorConfig.load(path)


def point_mapper(tmp_path: Path) -> Mapper:
    config = point_config(tmp_path)
    assert config.geography.boundaries == tmp_path / "lsoa-boundaries.geojson"
    shapes = Boundaries.load(config.geography.boundaries)
    return Mapper(config, schemas.current(), PSEUDO, lookup(tmp_path), shapes)


def at(longitude: str, latitude: str) -> dict[str, str]:
    return {**crime(), "Longitude": longitude, "Latitude": latitude}


def test_a_crime_is_placed_by_its_coordinates(tmp_path: Path) -> None:
    m = point_mapper(tmp_path)
    assert {"Longitude", "Latitude"} <= m.columns()
    record = m.map(at("-1.905", "52.475"), NOW).record
    assert record["geo"]["lsoa21cd"] == "E01900001"
    assert record["geo"]["lad_cd"] == "E08000025"
    assert "-1.905" not in repr(record) and "52.475" not in repr(record)
    with pytest.raises(RowSkipped, match=r"outside the partnership \(Shropshire"):
        m.map(at("-2.195", "52.805"), NOW)  # the lookup puts E01028801 in Shropshire
    with pytest.raises(RowError, match=r"no LSOA in .*lsoa-boundaries\.geojson holds the point"):
        m.map(at("0.0", "51.5"), NOW)
    with pytest.raises(RowError, match="is not a longitude and latitude"):
        m.map(at("-1.905", "north"), NOW)
    with pytest.raises(RowError, match="is not a longitude and latitude"):
        m.map(at("-1.905", "152.5"), NOW)
    with pytest.raises(RowError, match="'Longitude' and 'Latitude' are blank"):
        m.map(at("", ""), NOW)


def test_a_point_field_needs_the_boundaries(tmp_path: Path) -> None:
    config = point_config(tmp_path)
    with pytest.raises(ConfigError, match=r"geography\.boundaries: needed to place fields\.geo"):
        Mapper(config, schemas.current(), PSEUDO, lookup(tmp_path))
    with pytest.raises(ConfigError, match=r"fields\.geo\.point: must be \{longitude"):
        config_with(tmp_path, fields={"geo": {"point": {"lon": "x", "lat": "y"}}})
