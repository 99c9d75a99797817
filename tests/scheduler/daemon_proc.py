"""A daemon process for the tests: the fake pipeline, short intervals, CLI-like exit.

    python -m tests.scheduler.daemon_proc TMP DATABASE_URL [--outbox FILE] [--send-delay S]
        [--poll S] [--real] [--rate PER_SECOND] [--fetch-every S] [--web-port PORT]
        [--mail-url URL]

Prints an OutreachError as one line on stderr and exits 1, as ``outreach daemon``
does; logs go to ``TMP/daemon-<pid>.log``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from outreach.errors import OutreachError
from outreach.scheduler import DaemonOptions, PeriodicIntervals, daemon
from outreach.settings import Settings
from outreach.web import daemon_app
from tests.conftest import ROOT
from tests.scheduler.helpers import fake_factory


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("tmp", type=Path)
    parser.add_argument("database_url")
    parser.add_argument("--outbox", type=Path)
    parser.add_argument("--send-delay", type=float, default=0.0)
    parser.add_argument("--poll", type=float, default=0.3)
    parser.add_argument("--real", action="store_true", help="the real stages, not the fake")
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second")
    parser.add_argument("--fetch-every", type=float, default=3600.0, help="periodic fetch, s")
    parser.add_argument("--web-port", type=int, default=0, help="serve the web app too")
    parser.add_argument("--mail-url", default="memory:", help="the mail backend's URL")
    args = parser.parse_args()
    logging.basicConfig(
        filename=args.tmp / f"daemon-{os.getpid()}.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    settings = Settings(
        database_url=args.database_url,
        mail_url=args.mail_url,
        secret_key="test-secret-key-0123456789abcdef0123456789",
        campaigns_dir=args.tmp / "campaigns",
        templates_dir=ROOT / "templates",
        var_dir=args.tmp / "var",
        rate_per_second=args.rate,
        send_workers=1,
        check_link_seconds=0,  # the cities' websites are outside names: tests reach 127.0.0.1 only
    )
    options = DaemonOptions(
        poll_interval=args.poll,
        stop_timeout=10.0,
        intervals=PeriodicIntervals(fetch=args.fetch_every, purge=3600, send=0.1),
    )
    factory = None  # the real stages
    if not args.real:
        factory = fake_factory(
            args.tmp / "calls.jsonl", outbox=args.outbox, send_delay=args.send_delay
        )
    try:
        daemon(
            settings,
            pipeline_factory=factory,
            options=options,
            web=daemon_app(settings) if args.web_port else None,
            port=args.web_port,
        )
    except OutreachError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
