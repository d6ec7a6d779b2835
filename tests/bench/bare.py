"""The baseline for the enforcer benchmark: a faust app with no policy, no
verification and no anonymisation, that copies each raw message to the same
number of output messages the enforcer produces for it.

Run as ``python -m tests.bench.bare --bootstrap B --group G --out T --fanout N RAW...``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import faust


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--out", required=True, help="output topic prefix")
    parser.add_argument("--fanout", type=int, required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("raw", nargs="+")
    args = parser.parse_args(argv)
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
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
            for sink in sinks:
                await app.producer.send(sink, message.key, message.value, None, None, None)

    app.agent(source, name="copy")(copy)
    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
