"""`svdhub demo` as a user runs it, on a stack of its own (free ports, its own state)."""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.stack import Stack, StackConfig
from tests.fixtures.services import stack_config_on_free_ports, unavailable

pytestmark = [pytest.mark.needs_services, pytest.mark.slow]


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = StackConfig.load().state_dir / f"demo-{os.getpid()}"
    config = stack_config_on_free_ports(state)
    config_file = tmp_path / "stack.toml"
    config_file.write_text(config.to_toml(), encoding="utf-8")
    env = {**os.environ, "SVDHUB_HOME": str(state), "SVDHUB_STACK_CONFIG": str(config_file)}
    for variable in ("KAFKA_BOOTSTRAP_SERVERS", "OPA_URL", "DATABASE_URL"):
        env.pop(variable, None)
    yield env
    Stack(config).down()
    shutil.rmtree(state, ignore_errors=True)


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
