from datetime import date
from pathlib import Path

import pytest

from edge.pseudonymise import (
    PseudonymError,
    Pseudonymiser,
    generate_key_file,
    nhs_number,
    person_name,
)

KEY = bytes(range(32))


def test_nhs_numbers_are_checked_and_normalised() -> None:
    assert nhs_number("943 476 5919") == "9434765919"
    assert nhs_number("943-476-5919") == "9434765919"
    with pytest.raises(PseudonymError, match="check digit"):
        nhs_number("943 476 5918")
    with pytest.raises(PseudonymError, match="10 digits"):
        nhs_number("94347659")


def test_names_normalise_across_source_formats() -> None:
    assert person_name("SMITH, John") == person_name("John", "Smith") == "JOHN SMITH"
    assert person_name("Zoë", "O'Brien") == person_name("O'BRIEN, Zoe") == "BRIEN O ZOE"
    assert person_name("Renée  Smith-Jones") == "JONES RENEE SMITH"
    with pytest.raises(PseudonymError, match="blank"):
        person_name(" , ")


def test_the_same_person_gets_the_same_pseudonym_in_every_source() -> None:
    p = Pseudonymiser(KEY, "v1")
    police = p.person_by_name(["Jane", "Doe"], date(2004, 5, 6))
    ed = p.person_by_name(["DOE, Jane"], date(2004, 5, 6))
    assert police == ed
    assert len(police) == 64
    assert p.person_by_name(["Jane", "Doe"], date(2004, 5, 7)) != police


def test_pseudonyms_depend_on_the_key() -> None:
    a, b = Pseudonymiser(KEY, "v1"), Pseudonymiser(bytes(32), "v1")
    assert a.record("wmp", "CR-1") != b.record("wmp", "CR-1")


def test_record_references_are_namespaced_by_authority() -> None:
    p = Pseudonymiser(KEY, "v1")
    assert p.record("wmp", " cr-1 ") == p.record("wmp", "CR-1")
    assert p.record("wmp", "CR-1") != p.record("wmas", "CR-1")


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "linkage.key"
    generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert Pseudonymiser.load(path, "v1").version == "v1"
    with pytest.raises(FileExistsError):
        generate_key_file(path)
    path.chmod(0o644)
    with pytest.raises(PseudonymError, match="chmod 600"):
        Pseudonymiser.load(path, "v1")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymiser(b"short", "v1")
