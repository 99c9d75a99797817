"""A sending process for the crash and multi-process tests: ``python -m
tests.delivery.send_process '{json}'`` runs send_issue once and prints a report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from outreach.campaigns import load
from outreach.delivery import worker
from outreach.settings import Settings
from tests.delivery.conftest import fake_render


def main() -> None:
    args = json.loads(sys.argv[1])
    worker.render = fake_render  # type: ignore[assignment]
    settings = Settings(
        database_url=args["database_url"],
        mail_url=args["mail_url"],
        base_url="https://outreach.example.fi",
        secret_key="test-secret-key-0123456789abcdef0123456789",
        var_dir=Path(args["var_dir"]),
        send_batch_size=args.get("batch", 50),
    )
    config = load(Path(args["campaigns"]))
    report = worker.send_issue(
        settings, config, args["issue_id"], workers=args["workers"], retry_base_seconds=0
    )
    print(json.dumps({"sent": report.sent, "status": report.status}))


if __name__ == "__main__":
    main()
