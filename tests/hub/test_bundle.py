"""Building the OPA bundle from agreements, parties and Rego."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from hub.bundle import BundleError, build, normalise_action, release_problem
from hub.stack import StackConfig

POLICIES = StackConfig.load().policies_dir


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def edit(policies: Path, agreement: str, **changes: object) -> None:
    path = policies / "agreements" / f"{agreement}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw.update(changes)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")


def test_the_project_bundle_builds(tmp_path: Path) -> None:
    built = build(POLICIES, tmp_path / "bundle")
    data = json.loads((tmp_path / "bundle" / "data.json").read_text(encoding="utf-8"))["svd"]
    assert data["meta"]["revision"] == built.revision
    assert set(data["agreements"]) == {p.stem for p in (POLICIES / "agreements").glob("*.yaml")}
    assert data["classifications"]["Incident"]["geo"] == "quasi_identifier"
    assert data["agreements"]["wmp-vrp"]["fields"]["geo"] == {
        "action": "generalise",
        "level": "lsoa",
    }
    manifest = json.loads((tmp_path / "bundle" / ".manifest").read_text(encoding="utf-8"))
    assert manifest == {"revision": built.revision, "roots": ["svd"], "rego_version": 1}
    shipped = {
        p.relative_to(tmp_path / "bundle").as_posix() for p in (tmp_path / "bundle").rglob("*.rego")
    }
    assert "svd/health/health.rego" in shipped
    assert not [name for name in shipped if name.endswith("_test.rego")]
    assert all(name.startswith("svd/") for name in shipped)  # system.authz is not in it


def test_the_revision_is_a_content_hash(policies: Path, tmp_path: Path) -> None:
    first = build(policies, tmp_path / "a").revision
    assert build(policies, tmp_path / "b").revision == first
    edit(policies, "wmas-vrp", retention_days=30)
    assert build(policies, tmp_path / "c").revision != first


def test_rebuilding_in_place_rewrites_only_what_changed(policies: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    build(policies, out)
    rego = out / "svd" / "health" / "health.rego"
    before = rego.stat().st_mtime_ns
    edit(policies, "wmas-vrp", retention_days=30)
    build(policies, out)
    assert rego.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("agreement", "changes", "message"),
    [
        ("wmas-vrp", {"id": "wmas-other"}, r"id: 'wmas-other' must equal the file name"),
        (
            "wmas-vrp",
            {"recipients": ["vrp", "the-press"]},
            r"recipients: 'the-press' is not in parties.yaml recipients",
        ),
        (
            "wmas-vrp",
            {"disclosers": ["wmp-secret"]},
            r"disclosers: 'wmp-secret' is not in parties.yaml authorities",
        ),
        (
            "wmas-vrp",
            {"fields": {"victim_name": "keep"}},
            r"fields.victim_name: no such field in Incident",
        ),
        ("wmas-vrp", {"fields": {"geo": {"generalise": "street"}}}, r"fields.geo: "),
        (
            "wmas-vrp",
            {"fields": {"incident_pseudo_id": "keep"}},
            r"fields.incident_pseudo_id: a pseudonym may only be dropped or re-keyed for the "
            r"recipient \(pseudonymise: recipient\), not keep \(Incident\)",
        ),
        ("wmas-vrp", {"lawful_basis": "BECAUSE"}, r"lawful_basis: 'BECAUSE' is not one of"),
        ("wmas-vrp", {"review_by": "2025-01-01"}, r"review_by: 2025-01-01 is before valid_from"),
        ("wmas-vrp", {"valid_from": "soon"}, r"valid_from: 'soon' is not a 'date'"),
        ("wmas-vrp", {"colour": "blue"}, r"Additional properties are not allowed"),
    ],
)
def test_invalid_agreements_are_refused_with_file_and_place(
    policies: Path, tmp_path: Path, agreement: str, changes: dict[str, object], message: str
) -> None:
    edit(policies, agreement, **changes)
    with pytest.raises(BundleError, match=message) as caught:
        build(policies, tmp_path / "bundle")
    assert str(caught.value).startswith(str(policies / "agreements" / f"{agreement}.yaml"))


def test_actions_are_normalised() -> None:
    assert normalise_action("keep") == {"action": "keep"}
    assert normalise_action({"band": "age_svd"}) == {"action": "band", "scheme": "age_svd"}
    assert normalise_action({"truncate": "week"}) == {"action": "truncate", "unit": "week"}
    assert normalise_action({"pseudonymise": "recipient"}) == {
        "action": "pseudonymise",
        "scope": "recipient",
    }


@pytest.mark.parametrize(
    ("classification", "action", "refused"),
    [
        ("pseudonym", {"action": "pseudonymise", "scope": "recipient"}, False),
        ("pseudonym", {"action": "drop"}, False),
        ("pseudonym", {"action": "keep"}, True),
        ("pseudonym", {"action": "pseudonymise", "scope": "partnership"}, True),
        ("direct_identifier", {"action": "keep"}, True),
        ("direct_identifier", {"action": "drop"}, False),
        ("free_text", {"action": "truncate", "unit": "hour"}, True),
        ("quasi_identifier", {"action": "keep"}, False),
        ("", {"action": "keep"}, False),
    ],
)
def test_what_no_agreement_may_release(
    classification: str, action: dict[str, str], refused: bool
) -> None:
    assert (release_problem(classification, action) is not None) is refused


def test_the_partnership_is_in_the_bundle_beside_the_parties(tmp_path: Path) -> None:
    build(POLICIES, tmp_path / "bundle")
    data = json.loads((tmp_path / "bundle" / "data.json").read_text(encoding="utf-8"))["svd"]
    partnership = data["parties"]["partnership"]
    assert partnership["area"] == {"code": "E12000005", "name": "West Midlands"}
    assert len(partnership["districts"]) == 7
    local = [r for r in data["parties"]["recipients"].values() if r["level"] == "local"]
    assert {r["area"] for r in local} == set(partnership["districts"])


def parties_edit(policies: Path, recipient: str, area: str) -> None:
    path = policies / "parties.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["recipients"][recipient]["area"] = area
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")


@pytest.mark.parametrize(
    ("recipient", "area", "message"),
    [
        ("vrp", "E12000007", r"vrp\.area: 'E12000007' is not the partnership's area E12000005"),
        (
            "csp-coventry",
            "E09000001",
            r"csp-coventry\.area: 'E09000001' is not one of the partnership's districts",
        ),
    ],
)
def test_a_recipient_scoped_outside_the_partnership_is_refused(
    policies: Path, tmp_path: Path, recipient: str, area: str, message: str
) -> None:
    """A share is never scoped to an area the hub's geography does not know:
    a local recipient's area would never match an event's district."""
    parties_edit(policies, recipient, area)
    with pytest.raises(BundleError, match=message):
        build(policies, tmp_path / "bundle")


def test_the_partnership_file_is_required_and_checked(policies: Path, tmp_path: Path) -> None:
    (policies / "partnership.yaml").write_text("name: x\n", encoding="utf-8")
    with pytest.raises(BundleError, match=r"partnership\.yaml: missing keys: area, districts"):
        build(policies, tmp_path / "bundle")
    (policies / "partnership.yaml").unlink()
    with pytest.raises(BundleError, match="partnership file not found"):
        build(policies, tmp_path / "bundle")
