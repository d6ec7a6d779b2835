"""A small soak in the suite: the same faults as `make soak`, fewer events."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.run import soak

pytestmark = [pytest.mark.slow, pytest.mark.needs_services]


def test_the_pipeline_survives_kills_a_broker_restart_an_opa_outage_and_bad_input(
    tmp_path: Path,
) -> None:
    report = soak(tmp_path, events=300, bad=120, kills=5, opa_outage=8.0, say=lambda _: None)
    summary = "\n".join(report.lines())
    assert not report.problems, summary
    assert sum(report.kills.values()) >= 5, summary
    assert report.broker_restarts == 1, summary
    assert report.quarantined == sum(
        v for k, v in report.bad.items() if k not in {"replay", "malformed rows"}
    ), summary
    assert report.rejected_rows > 0, summary
