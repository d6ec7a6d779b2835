"""The partnership a hub serves: its name, its top area and its districts.

A Serious Violence Duty partnership is set by its specified authorities, not
by code: the West Midlands VRP covers seven metropolitan boroughs, another
VRP a county and its unitary authorities. So the partnership is data, one
YAML file the hub keeps beside ``parties.yaml`` (``policies/partnership.yaml``)
and gives to every authority that runs a connector::

    name: West Midlands Serious Violence Duty partnership
    area: {code: E12000005, name: West Midlands}     # region_cd on every share
    districts:                                       # ONS local authority districts
      E08000025: Birmingham
      E08000026: Coventry

* ``area`` is the partnership's whole area: the region a regional recipient
  sees, and the ``region_cd`` of every shared geography. It is a GSS code:
  an ONS region (``E12``), a police force area (``E23``) or any other
  9-character code the partnership is known by.
* ``districts`` are the local authority districts (``E06``-``E09``,
  ``W06``) whose LSOAs the partnership covers. Connectors skip rows placed
  outside them (counted, not rejected); the hub rolls LSOAs up to them.

Both sides load the same file, so they agree on what "inside the
partnership" means. Every problem raises :class:`PartnershipError` naming the
file and the key.

:func:`Partnership.demo` is the partnership of the SYNTHETIC sample shipped
for demos and tests (the West Midlands districts, fictitious LSOAs). It is
never used unless asked for by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

DEMO_PATH = Path(__file__).resolve().parent / "data" / "demo_partnership.yaml"

#: A GSS code: a letter for the country, two digits for the entity, six more.
AREA_CODE = re.compile(r"^[EWSN]\d{8}$")
#: A local authority district of England or Wales (as ONS lookups give them).
DISTRICT_CODE = re.compile(r"^(E0[6-9]|W06)\d{6}$")

_KEYS = {"name", "area", "districts"}


class PartnershipError(Exception):
    """A partnership file is unreadable or invalid; the message names the file and key."""


@dataclass(frozen=True)
class Partnership:
    """One partnership: ``districts`` maps each district's GSS code to its name."""

    name: str
    area_code: str
    area_name: str
    districts: MappingProxyType[str, str]
    source: str

    @classmethod
    def of(
        cls, name: str, area: tuple[str, str], districts: dict[str, str], source: str
    ) -> Partnership:
        """A checked partnership from values (the loader's checks, for code and tests)."""
        return _check(
            {
                "name": name,
                "area": dict(zip(("code", "name"), area, strict=True)),
                "districts": districts,
            },
            source,
        )

    @classmethod
    def load(cls, path: Path) -> Partnership:
        """Read and check a partnership YAML file."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PartnershipError(f"{path}: partnership file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise PartnershipError(f"{path}: cannot read the partnership file: {exc}") from exc
        except yaml.YAMLError as exc:
            raise PartnershipError(f"{path}: not valid YAML: {exc}") from exc
        return _check(raw, str(path))

    @classmethod
    def demo(cls) -> Partnership:
        """The partnership of the SYNTHETIC sample lookup (demos and tests only)."""
        return cls.load(DEMO_PATH)

    def __contains__(self, district: object) -> bool:
        return isinstance(district, str) and district in self.districts

    def __repr__(self) -> str:
        return f"<Partnership {self.name!r}: {self.area_code}, {len(self.districts)} districts>"


def _check(raw: Any, source: str) -> Partnership:
    def fail(key: str, reason: str) -> PartnershipError:
        return PartnershipError(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")

    if not isinstance(raw, dict):
        raise fail("", "must be a mapping with name, area and districts")
    if unknown := sorted(set(map(str, raw)) - _KEYS):
        raise fail("", f"unknown keys: {', '.join(unknown)} (expected name, area, districts)")
    if missing := sorted(_KEYS - set(raw)):
        raise fail("", f"missing keys: {', '.join(missing)}")
    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "must be a non-empty string")
    area = raw["area"]
    if not isinstance(area, dict) or set(area) != {"code", "name"}:
        raise fail("area", "must be a mapping with code and name")
    code, area_name = area["code"], area["name"]
    if not isinstance(code, str) or not AREA_CODE.fullmatch(code):
        raise fail("area.code", f"{code!r} is not a GSS code (e.g. E12000005)")
    if not isinstance(area_name, str) or not area_name.strip():
        raise fail("area.name", "must be a non-empty string")
    districts = raw["districts"]
    if not isinstance(districts, dict) or not districts:
        raise fail("districts", "must be a non-empty mapping of district code to name")
    checked: dict[str, str] = {}
    for district, district_name in districts.items():
        if not isinstance(district, str) or not DISTRICT_CODE.fullmatch(district):
            raise fail(
                "districts",
                f"{district!r} is not a local authority district code (E06-E09 or W06 + 6 digits)",
            )
        if not isinstance(district_name, str) or not district_name.strip():
            raise fail(f"districts.{district}", "must be the district's name")
        checked[district] = district_name.strip()
    return Partnership(
        name=name.strip(),
        area_code=code,
        area_name=area_name.strip(),
        districts=MappingProxyType(dict(sorted(checked.items()))),
        source=source,
    )
