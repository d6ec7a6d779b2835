"""The share policy, as OPA serves it with the project's own agreements."""

from typing import Any

from hub.enforcer.policy import PolicyClient


def decide(opa: tuple[str, str], today: str = "2026-11-28", **event: Any) -> dict[str, Any]:
    """svd.share.decisions for one event, asked as the enforcer: ``opa`` is (URL, token)."""
    base = {
        "authority": "uhb-ed",
        "event_type": "INCIDENT",
        "record_type": "Incident",
        "date": "2026-10-14",
        "lad_cd": "E08000025",
        "domestic_abuse": None,
        "sexual_offence": None,
        "location_type": "PUBLIC_PLACE",
    }
    with PolicyClient(*opa) as policy:
        result: dict[str, Any] = policy.evaluate(
            "svd.share", "decisions", {"event": {**base, **event}, "today": today}
        )
    return result


def test_an_ed_incident_goes_to_the_vrp_and_its_own_csp_only(opa_url: str, opa_token: str) -> None:
    decisions = decide((opa_url, opa_token))
    allowed = sorted(key for key, d in decisions.items() if d["allow"])
    assert allowed == ["ed-istv-csps/csp-birmingham", "ed-istv-csps/vrp", "ed-istv-vrp-linkage/vrp"]
    assert decisions["ed-istv-csps/csp-coventry"]["reasons"] == [
        {"code": "outside_recipient_area", "message": "event is outside csp-coventry's area"}
    ]
    fields = decisions["ed-istv-csps/csp-birmingham"]["obligations"]["fields"]
    assert fields["geo"] == {"action": "generalise", "level": "lsoa"}
    assert "victim_age_band" not in fields  # not named by the agreement: dropped
    assert decisions["ed-istv-csps/vrp"]["revision"].startswith("sha256:")


def test_an_assault_at_home_reaches_a_csp_at_msoa_only(opa_url: str, opa_token: str) -> None:
    decisions = decide((opa_url, opa_token), location_type="HOME")
    local = decisions["ed-istv-csps/csp-birmingham"]["obligations"]["fields"]["geo"]
    regional = decisions["ed-istv-csps/vrp"]["obligations"]["fields"]["geo"]
    assert local == {"action": "generalise", "level": "msoa"}
    assert regional == {"action": "generalise", "level": "lsoa"}


def test_domestic_abuse_from_police_reaches_a_csp_at_msoa_only(
    opa_url: str, opa_token: str
) -> None:
    decisions = decide((opa_url, opa_token), authority="wmp", domestic_abuse=True)
    assert decisions["wmp-csps/csp-birmingham"]["obligations"]["fields"]["geo"] == {
        "action": "generalise",
        "level": "msoa",
    }
    assert decisions["wmp-vrp/vrp"]["obligations"]["fields"]["geo"]["level"] == "lsoa"


def test_agreements_past_their_review_date_deny_with_the_reason(
    opa_url: str, opa_token: str
) -> None:
    decisions = decide((opa_url, opa_token), today="2027-07-01")
    assert not any(d["allow"] for d in decisions.values())
    assert decisions["ed-istv-csps/vrp"]["reasons"] == [
        {
            "code": "past_review_date",
            "message": "agreement ed-istv-csps passed its review date 2027-06-30",
        }
    ]


def test_an_unknown_authority_gets_no_share(opa_url: str, opa_token: str) -> None:
    assert decide((opa_url, opa_token), authority="rogue-trust") == {}
