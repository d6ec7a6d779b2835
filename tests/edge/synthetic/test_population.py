"""People, places and times: NHS numbers, hotspot LSOAs, night-time assaults, young victims."""

import math
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from edge import synthetic
from edge.synthetic import nhs_check_digit
from tests.edge.synthetic.runs import LOOKUP, Run, age, dmy, dmy_hm, first_versions
from wire.geography import GeographyLookup

# ----------------------------------------------------------------- NHS numbers


def test_nhs_check_digit_known_examples() -> None:
    assert nhs_check_digit("943476591") == 9  # 943 476 5919
    assert nhs_check_digit("401023213") == 7
    assert nhs_check_digit("000000000") == 0  # 11 becomes 0
    assert nhs_check_digit("000000006") is None  # 10: no valid number
    for bad in ("94347659", "9434765910", "94347659x", "\uff19" * 9):
        with pytest.raises(ValueError, match="nine digits"):
            nhs_check_digit(bad)


def test_all_nhs_numbers_are_valid_test_numbers(two_weeks: Run) -> None:
    numbers = [row["NHSNumber"] for row in two_weeks.rows(synthetic.UHB_ISTV)]
    assert all(re.fullmatch(r"\d{3} \d{3} \d{4}", number) for number in numbers)
    numbers = [number.replace(" ", "") for number in numbers]
    swbh = [row["NHS No"] for row in two_weeks.rows(synthetic.SWBH_ISTV)]
    assert all(re.fullmatch(r"\d{10}", number) for number in swbh)
    for number in numbers + swbh:
        assert number.startswith("999")  # the NHS's test range
        assert nhs_check_digit(number[:9]) == int(number[9])


# ----------------------------------------------------------------- geography


def test_every_lsoa_is_in_the_synthetic_lookup(two_weeks: Run) -> None:
    used = {row["LSOA21"] for row in two_weeks.rows(synthetic.WMP_CRIME)}
    used |= {row["LSOA21"] for row in two_weeks.rows(synthetic.UHB_ISTV)}
    used |= {row["LSOA"] for row in two_weeks.rows(synthetic.SWBH_ISTV)}
    used |= {row["LSOA21"] for row in two_weeks.rows(synthetic.WMAS_CALLOUTS)}
    used |= {str(row["home_lsoa21"]) for row in two_weeks.referrals()}
    assert used <= set(LOOKUP.lsoas())


def test_incidents_concentrate_in_few_lsoas(two_weeks: Run) -> None:
    crimes = first_versions(two_weeks.rows(synthetic.WMP_CRIME))
    counts = Counter(row["LSOA21"] for row in crimes)
    top = math.ceil(len(LOOKUP) * 0.1)
    share = sum(count for _, count in counts.most_common(top)) / len(crimes)
    assert 0.40 <= share <= 0.70
    by_lad = Counter(LOOKUP.area(row["LSOA21"]).lad_nm for row in crimes)
    assert by_lad.most_common(1)[0][0] == "Birmingham"


def test_another_lookup_supplies_the_lsoas(tmp_path: Path) -> None:
    coventry = [LOOKUP.area(code) for code in LOOKUP.lsoas("E08000026")]
    lookup = GeographyLookup(
        coventry, synthetic=False, source="test", partnership=LOOKUP.partnership
    )
    result = Run(tmp_path, synthetic.generate(tmp_path, days=2, lookup=lookup), [])
    used = {row["LSOA21"] for row in result.rows(synthetic.WMP_CRIME)}
    used |= {row["LSOA"] for row in result.rows(synthetic.SWBH_ISTV)}
    assert used <= set(lookup.lsoas())
    assert result.manifest.ed_attendances == 50
    assert 0 < result.manifest.ed_matched_to_police < 50


# -------------------------------------------------------------------- timing


def is_night(moment: datetime) -> bool:
    return moment.hour >= 20 or moment.hour < 4


def test_assaults_happen_at_night_and_at_weekends(two_weeks: Run) -> None:
    committed = [dmy_hm(row["CommittedDateTime"]) for row in two_weeks.rows(synthetic.WMP_CRIME)]
    assert sum(map(is_night, committed)) / len(committed) >= 0.45
    # The night of day D runs 20:00 on D to 04:00 on D+1.
    nights = Counter(
        (moment - timedelta(hours=4)).weekday() for moment in committed if is_night(moment)
    )
    assert nights[4] + nights[5] > 1.3 * (nights[1] + nights[2])  # Fri+Sat vs Tue+Wed
    arrivals = [
        datetime.fromisoformat(row["AssaultDateTime"]) for row in two_weeks.rows(synthetic.UHB_ISTV)
    ]
    assert sum(map(is_night, arrivals)) / len(arrivals) >= 0.45


# ---------------------------------------------------------------------- people


def test_most_victims_are_young(two_weeks: Run) -> None:
    police = [
        age(dmy(row["VictimDOB"]), dmy_hm(row["CommittedDateTime"]).date())
        for row in first_versions(two_weeks.rows(synthetic.WMP_CRIME))
        if row["VictimDOB"]
    ]
    assert sum(a < 25 for a in police) / len(police) >= 0.40
    ed = [
        age(date.fromisoformat(row["DOB"]), datetime.fromisoformat(row["AssaultDateTime"]).date())
        for row in two_weeks.rows(synthetic.UHB_ISTV)
    ] + [
        age(dmy(row["Date of Birth"]), dmy_hm(row["Time of Assault"]).date())
        for row in two_weeks.rows(synthetic.SWBH_ISTV)
    ]
    assert sum(a < 25 for a in ed) / len(ed) >= 0.40
