"""Coordinates placed in LSOAs, by point-in-polygon against ONS boundaries.

police.uk gives each crime a (snapped) longitude and latitude, and ECDS the
place of injury; a connector turns them into an LSOA code here, inside the
authority's network, and the coordinates never leave it. The boundaries are
the ONS "Lower layer Super Output Areas (December 2021) Boundaries" as a
GeoJSON FeatureCollection in longitude and latitude (WGS 84, as the ONS Open
Geography Portal's GeoJSON downloads are), each feature with an
``LSOA21CD`` property (any case). The generalised, clipped file (BGC) is
plenty for points snapped to streets; the full-resolution file works too,
with more memory.

Lookups use shapely's STRtree (a bulk-loaded R-tree) to find the few
polygons whose box holds the point, then an exact test; a point on the
shared edge of two LSOAs goes to the one with the smaller code, so the
answer never depends on the file's order. shapely (GEOS) does the geometry:
polygon tests are easy to get subtly wrong (holes, multipolygons, edges),
and it is the standard library for them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import shapely
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


class BoundaryError(Exception):
    """A boundary file is unreadable or holds a bad feature; the message names
    the file and the feature."""


class Boundaries:
    """LSOA polygons, searchable by point. Immutable once loaded."""

    def __init__(self, areas: dict[str, BaseGeometry], source: str) -> None:
        self.source = source
        self._codes = sorted(areas)
        self._shapes = [areas[code] for code in self._codes]
        for geometry in self._shapes:
            shapely.prepare(geometry)
        self._tree = STRtree(self._shapes)

    def __len__(self) -> int:
        return len(self._codes)

    @classmethod
    def load(cls, path: Path) -> Boundaries:
        """Read a GeoJSON FeatureCollection of LSOA 2021 polygons. Raises
        BoundaryError for an unreadable file, a feature without an LSOA21CD,
        a geometry that is not a (multi)polygon or not valid, coordinates
        that are not longitude and latitude, or one LSOA given twice."""
        source = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise BoundaryError(f"{source}: not a readable GeoJSON file: {exc}") from exc
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise BoundaryError(f"{source}: not a GeoJSON FeatureCollection")
        features = data.get("features")
        if not isinstance(features, list) or not features:
            raise BoundaryError(f"{source}: the collection has no features")
        areas: dict[str, BaseGeometry] = {}
        for number, feature in enumerate(features, start=1):
            code, geometry = _feature(feature, f"{source}: feature {number}")
            if code in areas:
                raise BoundaryError(f"{source}: feature {number}: LSOA {code} is given twice")
            areas[code] = geometry
        return cls(areas, source)

    def locate(self, longitude: float, latitude: float) -> str | None:
        """The LSOA whose polygon holds the point (on a shared edge, the smaller
        code), or None when none does."""
        point = shapely.Point(longitude, latitude)
        found = [
            self._codes[int(index)] for index in self._tree.query(point, predicate="intersects")
        ]
        return min(found) if found else None


def _feature(feature: Any, where: str) -> tuple[str, BaseGeometry]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise BoundaryError(f"{where}: not a GeoJSON Feature")
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        raise BoundaryError(f"{where}: properties must be an object")
    codes = [v for k, v in properties.items() if str(k).upper() == "LSOA21CD"]
    if len(codes) != 1 or not isinstance(codes[0], str) or not codes[0].strip():
        raise BoundaryError(f"{where}: no LSOA21CD property")
    code = codes[0].strip()
    try:
        geometry = shape(feature.get("geometry") or {})
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException) as exc:
        raise BoundaryError(f"{where} ({code}): not a GeoJSON geometry: {exc}") from exc
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
        raise BoundaryError(f"{where} ({code}): a {geometry.geom_type}, not a polygon")
    west, south, east, north = geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise BoundaryError(
            f"{where} ({code}): coordinates outside longitude and latitude (is the file "
            "in British National Grid? download the GeoJSON in WGS 84)"
        )
    if not geometry.is_valid:
        raise BoundaryError(
            f"{where} ({code}): not a valid polygon ({shapely.is_valid_reason(geometry)})"
        )
    return code, geometry


def coordinate(text: str, low: float, high: float) -> float | None:
    """A longitude or latitude from text: a finite number within its range, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and low <= value <= high else None
