"""The model's records across sources: volumes, order, ED linkage, referrals and outcomes."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from edge import synthetic
from tests.edge.synthetic.runs import DAYS, LOOKUP, START, Run, dmy, dmy_hm, first_versions


def test_volumes_scale_with_days(two_weeks: Run) -> None:
    crimes = first_versions(two_weeks.rows(synthetic.WMP_CRIME))
    assert len(crimes) == 120 * DAYS
    assert len(two_weeks.rows(synthetic.UHB_ISTV)) == 15 * DAYS
    assert len(two_weeks.rows(synthetic.SWBH_ISTV)) == 10 * DAYS
    assert len(two_weeks.rows(synthetic.WMAS_CALLOUTS)) == 16 * DAYS
    referrals = two_weeks.referrals()
    assert len(referrals) == 5 * DAYS
    linked = [r for r in referrals if r["linked_attendance_id"] is not None]
    assert 0.2 <= len(linked) / len(referrals) <= 0.3


def test_timestamps_are_in_order(two_weeks: Run) -> None:
    crimes = two_weeks.rows(synthetic.WMP_CRIME)
    first_recorded = {}
    for row in crimes:
        recorded, committed = dmy_hm(row["RecordedDateTime"]), dmy_hm(row["CommittedDateTime"])
        assert recorded > committed
        assert START <= committed.date() < START + timedelta(days=DAYS)
        if row["RecordVersion"] == "1":
            first_recorded[row["CrimeReference"]] = recorded
    corrections = [row for row in crimes if row["RecordVersion"] == "2"]
    assert corrections
    for row in corrections:
        assert dmy_hm(row["RecordedDateTime"]) > first_recorded[row["CrimeReference"]]
    recorded_order = [dmy_hm(row["RecordedDateTime"]) for row in crimes]
    assert recorded_order == sorted(recorded_order)
    for row in two_weeks.rows(synthetic.UHB_ISTV):
        gap = datetime.fromisoformat(row["ArrivalDateTime"]) - datetime.fromisoformat(
            row["AssaultDateTime"]
        )
        assert timedelta(minutes=10) <= gap <= timedelta(hours=12)
    for row in two_weeks.rows(synthetic.SWBH_ISTV):
        gap = dmy_hm(row["Arrived"]) - dmy_hm(row["Time of Assault"])
        assert timedelta(minutes=10) <= gap <= timedelta(hours=12)


def test_some_police_dobs_are_missing(two_weeks: Run) -> None:
    crimes = first_versions(two_weeks.rows(synthetic.WMP_CRIME))
    with_victim = [row for row in crimes if row["VictimForename"]]
    blank = sum(1 for row in with_victim if not row["VictimDOB"]) / len(with_victim)
    assert 0.01 <= blank <= 0.06


# ------------------------------------------------------------------ ED linkage


@dataclass(frozen=True)
class EdVisit:
    forename: str
    surname: str
    dob: date
    assault: datetime
    lsoa: str


def ed_visits(result: Run) -> Iterator[EdVisit]:
    for row in result.rows(synthetic.UHB_ISTV):
        yield EdVisit(
            row["Forename"],
            row["Surname"],
            date.fromisoformat(row["DOB"]),
            datetime.fromisoformat(row["AssaultDateTime"]),
            row["LSOA21"],
        )
    for row in result.rows(synthetic.SWBH_ISTV):
        surname, forename = row["Patient Name"].split(", ", 1)
        yield EdVisit(
            forename,
            surname,
            dmy(row["Date of Birth"]),
            dmy_hm(row["Time of Assault"]),
            row["LSOA"],
        )


def test_many_ed_attendances_never_reach_the_police(two_weeks: Run) -> None:
    crimes: dict[tuple[str, str, date, str], list[tuple[datetime, str]]] = {}
    for row in first_versions(two_weeks.rows(synthetic.WMP_CRIME)):
        if row["VictimDOB"]:
            victim = (row["VictimForename"], row["VictimSurname"].upper(), dmy(row["VictimDOB"]))
            crimes.setdefault((*victim, row["LSOA21"]), []).append(
                (dmy_hm(row["CommittedDateTime"]), row["CrimeReference"])
            )
    visits = list(ed_visits(two_weeks))
    matched: list[str] = []
    for visit in visits:
        key = (visit.forename, visit.surname.upper(), visit.dob, visit.lsoa)
        hits = [
            reference
            for committed, reference in crimes.get(key, [])
            if abs(visit.assault - committed) <= timedelta(hours=3)
        ]
        assert len(hits) <= 1
        matched.extend(hits)
    assert len(visits) == two_weeks.manifest.ed_attendances
    assert len(matched) == two_weeks.manifest.ed_matched_to_police
    assert len(set(matched)) == len(matched)  # no crime is matched twice
    unmatched = 1 - len(matched) / len(visits)
    assert 0.30 <= unmatched <= 0.55


# ----------------------------------------------------------------------- youth


def test_ed_navigator_referrals_link_to_their_attendance(two_weeks: Run) -> None:
    uhb = {row["AttendanceID"]: row for row in two_weeks.rows(synthetic.UHB_ISTV)}
    swbh = {row["Attendance Ref"]: row for row in two_weeks.rows(synthetic.SWBH_ISTV)}
    for referral in two_weeks.referrals():
        linked = referral["linked_attendance_id"]
        if referral["referrer"] != "ED navigator":
            assert linked is None
            continue
        assert referral["programme"] == "NAV-ED"
        referred = datetime.fromisoformat(str(referral["referral_date"]))
        if str(linked).startswith("UHB-"):
            row = uhb[str(linked)]
            assert (row["Forename"], row["Surname"]) == (
                referral["child_forename"],
                referral["child_surname"],
            )
            assert row["DOB"] == referral["date_of_birth"]
            arrived = datetime.fromisoformat(row["ArrivalDateTime"])
        else:
            row = swbh[str(linked)]
            surname, forename = row["Patient Name"].split(", ", 1)
            assert forename == referral["child_forename"]
            assert surname == str(referral["child_surname"]).upper()
            assert dmy(row["Date of Birth"]).isoformat() == referral["date_of_birth"]
            arrived = dmy_hm(row["Arrived"])
        assert arrived < referred


def test_referral_values(two_weeks: Run) -> None:
    reasons = {
        "Knife carrying",
        "Violence victim",
        "Violence perpetrator",
        "Exploitation risk",
        "Gang association",
        "Domestic abuse at home",
        "School exclusion",
        "Substance misuse",
    }
    end = datetime.combine(START + timedelta(days=DAYS), datetime.min.time())
    for referral in two_weeks.referrals():
        assert re.fullmatch(r"REF-\d+", str(referral["referral_id"]))
        assert referral["consent"] in {"given", "refused", "pending"}
        assert referral["risk"] in {"low", "medium", "high"}
        assert set(str(referral["reasons"]).split(";")) <= reasons
        assert {referral["looked_after"], referral["send"], referral["excluded"]} <= {0, 1}
        referred = datetime.fromisoformat(str(referral["referral_date"]))
        updated = datetime.fromisoformat(str(referral["updated_at"]))
        assert referred <= updated < end


def test_youth_service_children_mostly_live_in_birmingham(two_weeks: Run) -> None:
    homes = [LOOKUP.area(str(r["home_lsoa21"])).lad_nm for r in two_weeks.referrals()]
    assert homes.count("Birmingham") / len(homes) >= 0.7


def test_outcomes_follow_referrals_by_weeks(long_run: Run) -> None:
    referrals = {str(r["referral_id"]): r for r in long_run.referrals()}
    outcomes = long_run.rows(synthetic.YOS_OUTCOMES)
    assert len(outcomes) >= 20
    end = START + timedelta(days=45)
    for row in outcomes:
        referral = referrals[row["ReferralID"]]
        assert referral["consent"] == "given"
        assert (row["ChildForename"], row["ChildSurname"]) == (
            referral["child_forename"],
            referral["child_surname"],
        )
        referred = datetime.fromisoformat(str(referral["referral_date"])).date()
        outcome_day = dmy(row["OutcomeDate"])
        assert 14 <= (outcome_day - referred).days <= 70
        assert outcome_day < end
        assert int(row["FollowUpDays"]) == (outcome_day - referred).days
        assert 0 <= int(row["SessionsAttended"]) <= int(row["SessionsOffered"])
        if row["MeasureCode"]:
            assert row["MeasureCode"] == "SDQ" and 0 <= int(row["MeasureScore"]) <= 40
        else:
            assert row["MeasureScore"] == ""


def test_a_short_run_has_no_outcomes_yet(two_weeks: Run) -> None:
    assert two_weeks.rows(synthetic.YOS_OUTCOMES) == []
