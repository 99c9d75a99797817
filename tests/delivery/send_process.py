"""A sending process for the crash and multi-process tests.

``python -m tests.delivery.send_process '{json}'`` runs send_issue once and
prints a report. ``python -m tests.delivery.send_process --fork-server``
imports everything once and then forks one sending process per JSON line on
stdin, so the crash tests can start (and kill) dozens of senders without
paying Python's start-up each time. It answers on stdout, one line each:
``started PID``, ``report PID {json}`` and ``exited PID STATUS`` (the
negative signal number for a process killed by a signal), the last once the
child is reaped, so its pid no longer exists.
"""

from __future__ import annotations

import json
import os
import select
import sys
import traceback
from pathlib import Path
from typing import Any

from outreach.campaigns import load
from outreach.delivery import send as worker
from outreach.settings import Settings
from tests.delivery.stand_in import fake_render


def send(args: dict[str, Any]) -> dict[str, Any]:
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
    return {"sent": report.sent, "status": report.status}


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def fork_server() -> None:
    children = 0
    stdin_open = True
    while stdin_open or children:
        ready, _, _ = select.select([sys.stdin] if stdin_open else [], [], [], 0.002)
        if ready:
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
            else:
                args = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    code = 0
                    try:
                        _say(f"report {os.getpid()} {json.dumps(send(args))}")
                    except BaseException:
                        traceback.print_exc()
                        code = 1
                    finally:
                        sys.stderr.flush()
                        os._exit(code)
                children += 1
                _say(f"started {pid}")
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children -= 1
            _say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def main() -> None:
    if sys.argv[1:] == ["--fork-server"]:
        fork_server()
        return
    print(json.dumps(send(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
