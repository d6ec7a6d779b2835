"""`svdhub demo` as a user runs it, on a stack of its own (free ports, its own state)."""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.services import stack_for_a_command, unavailable

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with stack_for_a_command("demo", tmp_path) as (_, env):
        yield env


def demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "demo"],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def test_the_demo_runs_end_to_end_and_reruns_idempotently(demo_env: dict[str, str]) -> None:
    first = demo(demo_env)
    if first.returncode != 0 and "stack" in first.stderr and "error" in first.stderr:
        unavailable("local stack", first.stderr[-2000:])
    assert first.returncode == 0, first.stderr
    verified = re.findall(r"(\d+)  (svd\.raw\.\S+)  \((\d+) signatures verified\)", first.stdout)
    assert {topic for _, topic, _ in verified} == {
        "svd.raw.bcc-youth.referral",
        "svd.raw.swbh-ed.incident",
        "svd.raw.uhb-ed.incident",
        "svd.raw.wmas.incident",
        "svd.raw.wmp.incident",
        "svd.raw.yos-birmingham.outcome",
    }
    assert all(count == ok and int(count) > 0 for count, _, ok in verified), first.stdout
    assert first.stdout.count(" ok ") == 6

    second = demo(demo_env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("(published 0,") == 6  # nothing twice
    assert re.findall(r"(\d+)  (svd\.raw\.\S+)  \(", second.stdout) == [
        (count, topic) for count, topic, _ in verified
    ]
