"""The baseline for the enforcer benchmark: a faust app with no policy, no
verification and no anonymisation, that copies each raw message to the same
number of output messages the enforcer produces for it: ``--fanout`` messages,
the last of them ``--batch`` copies of the value in one (as the enforcer writes
an event's decisions as one audit batch).

It connects as the enforcer's principal (``--credentials``), over SASL_SSL
with SCRAM-SHA-512 as the enforcer does, so the ratio leaves out neither TLS
nor the broker's ACL checks.

Run as ``python -m tests.bench.bare --credentials F --group G --out T --fanout N --batch B RAW...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import faust

from wire.kafka_client import SASL_MECHANISM, ClientSettings


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--credentials", required=True, help="Kafka client settings file")
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True, help="output topic prefix")
    parser.add_argument("--fanout", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1, help="copies in the last message")
    parser.add_argument("--datadir", required=True)
    parser.add_argument("raw", nargs="+")
    args = parser.parse_args(argv)
    kafka = ClientSettings.load(Path(args.credentials))
    app = faust.App(
        args.group,
        broker=f"kafka://{kafka.bootstrap_servers}",
        broker_credentials=faust.SASLCredentials(
            username=kafka.username,
            password=kafka.password,
            ssl_context=kafka.ssl_context(),
            mechanism=SASL_MECHANISM,
        ),
        autodiscover=False,
        datadir=args.datadir,
        processing_guarantee="at_least_once",
        web_enabled=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
    )
    source = app.topic(*args.raw, key_serializer="raw", value_serializer="raw")
    # The same producer calls as the enforcer's (faust flushes it before each commit).
    sinks = [f"{args.out}.{n % 4}" for n in range(args.fanout)]

    async def copy(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            for sink in sinks[:-1]:
                await app.producer.send(sink, message.key, message.value, None, None, None)
            batch = b",".join([message.value] * args.batch)
            await app.producer.send(sinks[-1], message.key, batch, None, None, None)

    app.agent(source, name="copy")(copy)
    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
