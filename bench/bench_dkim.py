"""What DKIM signing adds per recipient, next to the unsigned substitution.

Builds bench_send.py's 50 KB newsletter once as a MessageTemplate (unsigned,
RSA 2048, Ed25519) and times ``fill`` per recipient (median of several
rounds). It prints microseconds per message and the ceiling each one puts
on one process (the signature is computed while holding the GIL, so worker
threads do not add to it), to compare with the SMTP limit bench_send.py
measures (about 576 messages/s with 4 connections on the development
machine).

    .venv/bin/python bench/bench_dkim.py            # BENCH_DKIM_N (default 300)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_send import fake_render  # noqa: E402

N = int(os.environ.get("BENCH_DKIM_N", "300"))
ROUNDS = 5


def per_message_us(template: object, n: int) -> float:
    from outreach.delivery.message import MessageTemplate, Recipient

    assert isinstance(template, MessageTemplate)
    recipients = [
        Recipient(
            f"user{i}@example.fi",
            f"<issue-1.sub-{i}@vantaa.fi>",
            f"https://outreach.example.fi/unsubscribe/token{i:040d}",
            f"https://outreach.example.fi/preferences/token{i:040d}",
            f"Yhteyshenkilö {i}",
        )
        for i in range(n)
    ]
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for r in recipients:
            template.fill(r)
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def main() -> None:
    from outreach.campaigns import Sender
    from outreach.delivery.message import MessageTemplate, Recipient
    from outreach.dkim import DkimSigner
    from outreach.errors import ConfigError

    if shutil.which("openssl") is None:
        sys.exit("bench_dkim: needs the openssl tool to make throw-away keys")
    sender = Sender(name={"fi": "Vantaan kaupunki"}, address="ilmasto@vantaa.fi")
    rendered = fake_render(None, None, type("I", (), {"period": "2026-11"})(), "fi")
    with tempfile.TemporaryDirectory() as tmp:
        rsa, ed = Path(tmp) / "rsa.pem", Path(tmp) / "ed25519.pem"
        for algorithm, path in (("RSA", rsa), ("ed25519", ed)):
            subprocess.run(
                ["openssl", "genpkey", "-algorithm", algorithm, "-out", str(path)],
                check=True,
                capture_output=True,
            )
        signers: dict[str, DkimSigner | None] = {"unsigned": None}
        for path in (rsa, ed):
            try:
                signer = DkimSigner.load("s2026", "vantaa.fi", path)
            except ConfigError as exc:  # PyNaCl missing: say so, measure the rest
                print(f"skipped: {exc}")
                continue
            key = signer.key
            signers[f"{key.algorithm} ({key.bits} bits, {key.implementation})"] = signer
        base = 0.0
        sample = Recipient("a@example.fi", "<1@vantaa.fi>", "https://x/u/t", "https://x/p/t")
        for name, signer in signers.items():
            template = MessageTemplate(
                sender, "fi", rendered, list_id="<bench.vantaa.outreach>", dkim=signer
            )
            slow = signer is not None and signer.key.implementation == "dkimpy"
            n = max(N // 5, 20) if slow else N
            us = per_message_us(template, n)
            if signer is None:
                base = us
                size = len(template.fill(sample).data)
                print(f"{size // 1024} KB message; per recipient, median of {ROUNDS} rounds:")
                print(f"  {name:<42} {us:8.0f} µs  (substitution)")
            else:
                print(
                    f"  {name:<42} {us:8.0f} µs  (+{us - base:.0f} µs signing; "
                    f"one process signs at most {1e6 / us:,.0f} messages/s)"
                )


if __name__ == "__main__":
    main()
