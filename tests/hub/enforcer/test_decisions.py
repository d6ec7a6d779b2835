"""The Decider: answers checked for shape, cached per revision, and a new
bundle revision taking effect without a restart (on a private OPA)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.bundle import build
from hub.enforcer.decisions import Decider, parse_decisions
from hub.enforcer.policy import PolicyClient, PolicyUnavailable
from tests.fixtures.services import PrivateOpa
from tests.hub.enforcer import helpers
from wire.audit import Reason

INPUT = helpers.DECISION_INPUT


def decision(**overrides: Any) -> dict[str, Any]:
    value = {
        "allow": True,
        "reasons": [],
        "agreement_id": "a",
        "recipient": "vrp",
        "lawful_basis": "ANONYMISED",
        "purpose": "p",
        "revision": "sha256:1",
        "obligations": {"fields": {"geo": {"action": "keep"}}},
    }
    return {**value, **overrides}


def test_answers_of_the_wrong_shape_fail_closed() -> None:
    assert parse_decisions({}) == ()
    assert parse_decisions({"a/vrp": decision()})[0].fields == {"geo": {"action": "keep"}}
    broken: Any
    for broken in (
        [],
        {"a/vrp": {"allow": True}},
        {"a/vrp": decision(allow="yes")},
        {"a/vrp": decision(revision=None)},
        {"a/vrp": decision(reasons=[{"code": "expired", "message": "m"}])},  # allowed, yet why not
        {"a/vrp": decision(allow=False)},  # denied without a reason
        {"a/vrp": decision(allow=False, reasons=["expired"])},  # a reason without a code
        {"a/vrp": decision(allow=False, reasons=[{"code": "Not a code", "message": "m"}])},
        {"a/vrp": decision(allow=False, reasons=[{"code": "x", "message": "m", "more": 1}])},
        {"a/vrp": decision(purpose="p" * 1001)},  # longer than an audit record holds
        {"a/vrp": decision(allow=False, reasons=[{"code": "x", "message": "m"}] * 17)},
        {"a/vrp": decision(allow=False, reasons=[{"code": "x", "message": "m" * 1001}])},
        {"a/vrp": decision(lawful_basis="art 6(1)(e)")},
        {"a/vrp": decision(recipient="VRP\x00")},
    ):
        with pytest.raises(PolicyUnavailable):
            parse_decisions(broken)


class CountingClient:
    """Stands in for PolicyClient in the unit test of the cache logic."""

    def __init__(self, revision: str = "sha256:1") -> None:
        self.revision = revision
        self.calls = 0

    def evaluate(self, package: str, rule: str, input_data: dict[str, Any]) -> Any:
        if rule == "revision":
            return self.revision
        self.calls += 1
        return {"a/vrp": decision(revision=self.revision)}


def test_cache_by_input_and_revision() -> None:
    client = CountingClient()
    decider = Decider(client)  # type: ignore[arg-type]
    assert decider.check_revision() == "sha256:1"
    decider.decide(INPUT)
    decider.decide(INPUT)
    assert client.calls == 1 and decider.hits == 1
    other = {**INPUT, "today": "2026-11-29"}
    decider.decide(other)
    assert client.calls == 2
    assert decider.check_revision() is None  # unchanged: the cache stays
    decider.decide(INPUT)
    assert client.calls == 2
    client.revision = "sha256:2"
    assert decider.check_revision() == "sha256:2"  # changed: the cache is cleared
    assert decider.decide(INPUT)[0].revision == "sha256:2"
    assert client.calls == 3


def test_agreements_of_the_wrong_shape_fail_closed() -> None:
    class Answers:
        def __init__(self, answer: Any) -> None:
            self.answer = answer

        def evaluate(self, package: str, rule: str, input_data: dict[str, Any]) -> Any:
            return self.answer

    assert Decider(Answers({"a": {"retention_days": 1}})).agreements() == {  # type: ignore[arg-type]
        "a": {"retention_days": 1}
    }
    bad: list[Any] = [None, [], {"a": []}]
    for broken in bad:
        with pytest.raises(PolicyUnavailable, match=r"data\.svd\.agreements"):
            Decider(Answers(broken)).agreements()  # type: ignore[arg-type]


def test_real_opa_answers_and_names_its_revision(opa_url: str, opa_token: str) -> None:
    with PolicyClient(opa_url, opa_token) as client:
        decider = Decider(client)
        revision = decider.check_revision()
        answers = decider.decide(INPUT)
        assert revision is not None and revision.startswith("sha256:")
        assert {d.revision for d in answers} == {revision}
        assert {(d.agreement_id, d.recipient) for d in answers if d.allow} == {
            ("wmp-vrp", "vrp"),
            ("wmp-csps", "csp-birmingham"),
            ("vrp-public", "public"),
        }
        assert "vrp" in decider.parties()["recipients"]
        agreements = decider.agreements()
        assert (
            agreements["wmp-csps"]["retention_days"]
            == yaml.safe_load(
                (helpers.POLICIES / "agreements" / "wmp-csps.yaml").read_text(encoding="utf-8")
            )["retention_days"]
        )


def test_a_new_bundle_takes_effect_without_a_restart(
    private_opa: PrivateOpa, tmp_path: Path
) -> None:
    bundle = private_opa.bundle
    with PolicyClient(private_opa.url, private_opa.token) as client:
        decider = Decider(client)
        first = decider.check_revision()
        assert all(d.allow for d in decider.decide(INPUT) if d.recipient == "vrp")

        # An IG lead brings wmp-vrp's review date forward and rebuilds the bundle.
        policies = tmp_path / "policies"
        shutil.copytree(helpers.POLICIES, policies)
        path = policies / "agreements" / "wmp-vrp.yaml"
        agreement = yaml.safe_load(path.read_text(encoding="utf-8"))
        agreement["review_by"] = "2026-01-31"
        path.write_text(yaml.safe_dump(agreement), encoding="utf-8")
        built = build(policies, bundle)
        assert built.revision != first

        helpers.wait_until(
            lambda: decider.check_revision() is not None, 20, "OPA to load the new bundle"
        )
        assert decider.revision == built.revision
        answer = {d.agreement_id: d for d in decider.decide(INPUT) if d.recipient == "vrp"}
        assert answer["wmp-vrp"].reasons == (
            Reason("past_review_date", "agreement wmp-vrp passed its review date 2026-01-31"),
        )
        assert answer["wmp-vrp"].revision == built.revision
