"""docs/onboarding.md, followed step by step while the hub runs: two
authorities that are not yet sharing (a police force with a police.uk street
file, an ED trust with an ISTV XML submission) get from nothing to shares at
the VRP by configuration and the documented commands only. The enforcer is
started first and never restarted; OPA is given the new bundle as it runs.

The IG leads' policies are a checkout of their own (``$SVDHUB_POLICIES``):
the project's ``policies/`` is copied, and the copy is what changes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.services import PrivateOpa
from tests.hub.enforcer import helpers
from tests.hub.enforcer.pipeline import Pipeline, payload
from tests.hub.enforcer.test_formats import CONFIGS, FORMATS
from wire.kafka_client import ClientSettings
from wire.private_files import write_private
from wire.shares import Share

pytestmark = pytest.mark.slow

FORCE = "btp"
TRUST = "rwt-ed"


def svdhub(env: dict[str, str], *args: str, code: int = 0) -> str:
    """One documented command, as its user runs it; what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == code, f"svdhub {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def _names_the_authorities(policies: Path) -> None:
    """Step 1, the IG leads: the two authorities in parties.yaml; a new
    agreement for the force, and the trust added to the ED agreement it signs."""
    parties_file = policies / "parties.yaml"
    parties = yaml.safe_load(parties_file.read_text(encoding="utf-8"))
    parties["authorities"][FORCE] = {"name": "British Transport Police", "type": "POLICE"}
    parties["authorities"][TRUST] = {
        "name": "The Royal Wolverhampton NHS Trust (emergency department)",
        "type": "ICB_ED",
    }
    parties_file.write_text(yaml.safe_dump(parties, sort_keys=False), encoding="utf-8")
    agreements = policies / "agreements"
    force = yaml.safe_load((agreements / "wmp-vrp.yaml").read_text(encoding="utf-8"))
    force.update(
        id=f"{FORCE}-vrp",
        title="British Transport Police recorded violence to the VRP",
        disclosers=[FORCE],
        dpia_ref="DPIA-BTP-SVD-2026-001",
    )
    (agreements / f"{FORCE}-vrp.yaml").write_text(yaml.safe_dump(force), encoding="utf-8")
    ed_file = agreements / "ed-istv-vrp-linkage.yaml"
    ed = yaml.safe_load(ed_file.read_text(encoding="utf-8"))
    ed["disclosers"].append(TRUST)
    ed_file.write_text(yaml.safe_dump(ed), encoding="utf-8")


def _config(sample: str, home: Path, changes: dict[str, str], files: list[str]) -> Path:
    """Step 3, the IT team: the sample config of its format, made its own,
    with the code lists and lookup it names kept beside it."""
    text = (CONFIGS / sample).read_text(encoding="utf-8")
    for old, new in changes.items():
        assert old in text, f"{sample} has no {old!r}"
        text = text.replace(old, new)
    folder = home / "config"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy(CONFIGS / name, folder / name)
    path = folder / sample
    path.write_text(text, encoding="utf-8")
    return path


def _vrp(shares: list[Any], authority: str) -> list[Share]:
    return [
        share
        for share in map(payload, shares)
        if share.recipient == "vrp" and share.source_authority == authority
    ]


def test_a_force_and_an_ed_onboard_by_configuration_while_the_hub_runs(
    kafka_admin: ClientSettings, private_opa: PrivateOpa, tmp_path: Path
) -> None:
    pipeline = Pipeline(kafka_admin, private_opa.url, private_opa.token, tmp_path / "home")
    policies = tmp_path / "isa" / "policies"
    shutil.copytree(helpers.POLICIES, policies)
    env = {**pipeline.env, "SVDHUB_POLICIES": str(policies)}
    log = pipeline.home / "enforcer-0.log"
    try:
        enforcer = pipeline.start_enforcer()  # the default pickup interval (5 s)
        helpers.wait_until(
            lambda: log.is_file() and "consuming " in log.read_text(errors="replace"),
            90,
            "the enforcer to start consuming",
        )

        # 1. The partnership names the authorities; OPA gets the new bundle.
        _names_the_authorities(policies)
        built = svdhub(env, "policy", "build", "--out", str(private_opa.bundle))
        revision = built.split("revision ")[-1].strip()
        helpers.wait_until(
            lambda: f"policy revision {revision} is in force" in log.read_text(errors="replace"),
            60,
            "the enforcer to take up the new bundle",
        )

        # 2. The hub gives each a principal, and hands over its settings.
        # (The enforcer made their raw topics when it took up the bundle.)
        applied = svdhub(env, "access", "apply", "--credentials", str(pipeline.admin_credentials()))
        for authority in (FORCE, TRUST):
            assert f"new password: {pipeline.names.prefix}connector-{authority} " in applied
        handed: dict[str, Path] = {}
        for authority in (FORCE, TRUST):
            handed[authority] = pipeline.authorities / authority / "kafka.properties"
            write_private(  # it holds the principal's password: 0600 from the start
                handed[authority], svdhub(env, "access", "credentials", f"connector-{authority}")
            )

        # 3. Each IT team puts its extract in place, writes its config and checks it.
        force_home = pipeline.authorities / FORCE
        (force_home / "extracts" / "police-uk").mkdir(parents=True)
        shutil.copy(
            FORMATS / "police-uk-street.csv",
            force_home / "extracts" / "police-uk" / "2026-06-btp-street.csv",
        )
        shutil.copy(policies / "partnership.yaml", force_home / "partnership.yaml")
        force_config = _config(
            "police-uk-street.yaml",
            force_home,
            {
                "authority: wmp\n": f"authority: {FORCE}\n",
                "signing_key_id: wmp-local-1": f"signing_key_id: {FORCE}-local-1",
                "partnership: ../../../policies/partnership.yaml": (
                    f"partnership: {force_home / 'partnership.yaml'}"
                ),
            },
            ["ons-lookup-sample.csv", "police-uk-outcome-groups.csv"],
        )
        trust_home = pipeline.authorities / TRUST
        istv = trust_home / "extracts" / "istv"
        (istv / "schema").mkdir(parents=True)
        submission = (FORMATS / "istv.xml").read_text(encoding="utf-8")
        (istv / "2026-11-RL403.xml").write_text(
            submission.replace("RRK15", "RL403"), encoding="utf-8"
        )
        shutil.copy(FORMATS / "istv.xsd", istv / "schema" / "istv.xsd")
        trust_config = _config(
            "istv-xml.yaml",
            trust_home,
            {
                "authority: uhb-ed\n": f"authority: {TRUST}\n",
                "signing_key_id: uhb-ed-local-1": f"signing_key_id: {TRUST}-local-1",
                "lad_cd: E08000025": "lad_cd: E08000031",  # Wolverhampton
            },
            ["istv-method-codes.csv", "istv-location-codes.csv"],
        )
        checked = svdhub(env, "connector", "check", str(force_config), "--rows", "1000")
        assert f"ok: {force_config} ({FORCE} -> Incident)" in checked
        assert "  accepted: 3 (would publish 3, already published 0)" in checked
        assert "  skipped: 3 (not for the hub, as the config says)" in checked
        assert "  rejected: 0" in checked
        checked = svdhub(env, "connector", "check", str(trust_config), "--rows", "1000")
        assert "  accepted: 3 (would publish 3, already published 0)" in checked
        assert "  rejected: 0" in checked

        # 4. Keys: each authority's own; the partnership's linkage key, whose
        # fingerprint the hub registers.
        linkage = tmp_path / "partnership-linkage.key"
        svdhub(env, "connector", "linkage-key", str(linkage))
        for config in (force_config, trust_config):
            svdhub(env, "connector", "keys", str(config), "--linkage-key", str(linkage))
        for authority in (FORCE, TRUST):
            (public,) = (pipeline.authorities / authority / "public").glob("*.yaml")
            svdhub(env, "keys", "register", str(public))
        fingerprint = svdhub(env, "connector", "linkage-key", "--fingerprint", str(linkage))
        svdhub(env, "linkage", "register", "--version", "local-1", fingerprint.strip())

        # 5. Run, each with the settings the hub handed over.
        for authority, config in ((FORCE, force_config), (TRUST, trust_config)):
            svdhub(env, "connector", "run", str(config), "--credentials", str(handed[authority]))

        def arrived() -> bool:
            shares = pipeline.shares()
            return len(_vrp(shares, FORCE)) == 3 and len(_vrp(shares, TRUST)) == 3

        helpers.wait_until(arrived, 90, "the new authorities' shares at the VRP")
        shares = pipeline.shares()
        force = _vrp(shares, FORCE)
        assert {s.agreement_id for s in force} == {f"{FORCE}-vrp"}
        assert {s.fields["occurred_precision"] for s in force} == {"MONTH"}
        assert {s.fields["geo"]["lad_cd"] for s in force} == {
            "E08000025",
            "E08000026",
            "E08000029",
        }
        trust = _vrp(shares, TRUST)
        assert {s.agreement_id for s in trust} == {"ed-istv-vrp-linkage"}
        assert {s.fields["geo"]["lad_cd"] for s in trust} == {"E08000031"}
        assert {s.policy_revision for s in force + trust} == {revision}
        for never in (b"RL403", b"takeaway", b"Synthetic Street", b"52.48"):
            assert never not in b"".join(m.value for m in shares)

        # The force's next run (nothing new) says the hub has read all of its topic.
        topic = pipeline.names.raw(FORCE, "incident")
        said = f"hub: {pipeline.group()} has read 3 of the 3 events on {topic}"
        again = ("connector", "run", str(force_config), "--credentials", str(handed[FORCE]))
        helpers.wait_until(
            lambda: said in svdhub(env, *again),
            60,
            "a run to say the hub has read the force's events",
            every=2,
        )

        # The same enforcer process read both new topics from their first message.
        assert enforcer.poll() is None and len(pipeline.processes) == 1
        text = log.read_text(encoding="utf-8", errors="replace")
        for authority in (FORCE, TRUST):
            topic = pipeline.names.raw(authority, "incident")
            assert f"raw topic {topic} appeared; consuming it from its first message" in text
    finally:
        pipeline.stop()
        pipeline.revoke()
