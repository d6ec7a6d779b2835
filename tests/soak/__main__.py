"""``make soak``: python -m tests.soak [--events N] [--bad N] [--kills N] [--opa-outage S]
[--poison N] [--poison-only].

The fault-injection run (``tests.soak.run``), then the poison run
(``tests.soak.poison``: N malformed messages to a shared, the audit and a raw
topic, default 1000 each), each on a private stack."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from tests.soak.poison import poison_soak
from tests.soak.run import soak


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="valid events (default 3000)")
    parser.add_argument("--bad", type=int, default=1000, help="bad inputs (default 1000)")
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLs (default 6, at least 5)")
    parser.add_argument("--opa-outage", type=float, default=20.0, help="seconds OPA is stopped")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--poison", type=int, default=1000, help="malformed messages per topic (default 1000)"
    )
    parser.add_argument("--poison-only", action="store_true", help="skip the fault injection")
    args = parser.parse_args(argv)
    # The expected decisions are worked out in-process: its quarantine warnings
    # would only repeat what the enforcer's log says.
    logging.getLogger("hub.enforcer.core").setLevel(logging.ERROR)
    failed = False
    if not args.poison_only:
        with tempfile.TemporaryDirectory(prefix="svdhub-soak-") as folder:
            report = soak(
                Path(folder),
                events=args.events,
                bad=args.bad,
                kills=args.kills,
                opa_outage=args.opa_outage,
                seed=args.seed,
            )
        print("\n".join(report.lines()))
        failed |= bool(report.problems)
    if args.poison > 0:
        with tempfile.TemporaryDirectory(prefix="svdhub-poison-") as folder:
            poisoned = poison_soak(Path(folder), per_topic=args.poison, seed=args.seed)
        print("\n".join(poisoned.lines()))
        failed |= bool(poisoned.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
