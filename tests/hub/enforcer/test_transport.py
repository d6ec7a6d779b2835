"""The enforcer's faust app hands its short fetch wait to aiokafka's fetcher,
on the real broker, as the enforcer's principal.

faust hard-codes a 1,500 ms fetch wait; ``hub.enforcer.transport`` replaces
it. If a faust or aiokafka upgrade moves where the wait is set, this fails
instead of the enforcer's latency quietly going back to 1.5 s stalls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import cast

import faust
import pytest

from hub.access.plan import ENFORCER
from hub.enforcer.transport import FETCH_WAIT_MS, App, ShortWaitConsumer, ShortWaitTransport
from tests.hub.enforcer.pipeline import Pipeline
from wire.kafka_client import SASL_MECHANISM, ClientSettings


def app_for(settings: ClientSettings, wait: int) -> App:
    return App(
        "svdhub-transport-probe",
        fetch_wait_ms=wait,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=faust.SASLCredentials(
            username=settings.username,
            password=settings.password,
            ssl_context=settings.ssl_context(),
            mechanism=SASL_MECHANISM,
        ),
        autodiscover=False,
        web_enabled=False,
    )


async def fetch_wait_after_start(settings: ClientSettings, wait: int) -> int:
    app = app_for(settings, wait)
    assert isinstance(app.transport, ShortWaitTransport)
    thread = cast("ShortWaitConsumer", app.consumer)._thread
    consumer = thread._create_worker_consumer(app.transport)
    await consumer.start()
    try:
        return int(consumer._fetcher._fetch_max_wait_ms)
    finally:
        await consumer.stop()


def main(argv: list[str]) -> int:
    """``python -m tests.hub.enforcer.test_transport CREDENTIALS WAIT``: print the
    wait the fetcher got. Run in its own process: faust leaves sockets behind
    that pytest would report as unraisable warnings."""
    credentials, wait = argv
    print(asyncio.run(fetch_wait_after_start(ClientSettings.load(Path(credentials)), int(wait))))
    return 0


@pytest.mark.parametrize("wait", [FETCH_WAIT_MS, 120])
def test_the_fetch_wait_reaches_aiokafkas_fetcher(pipeline: Pipeline, wait: int) -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.hub.enforcer.test_transport",
            str(pipeline.credentials(ENFORCER)),
            str(wait),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split()[-1] == str(wait), probe.stdout + probe.stderr


def test_a_wait_below_one_ms_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        App("svdhub-transport-probe", fetch_wait_ms=0, autodiscover=False)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
