"""Benchmark of bounce classification: 10,000 messages from the test corpus.

Parses every message of ``tests/data/bounces`` (DSNs, ARF reports,
non-standard bounces, auto-replies) round-robin until 10,000 have been
classified, and prints messages per second, the peak memory parsing one
message allocates (tracemalloc) and the process's peak RSS. Exits 1 if any
message is classified differently from the first time it was seen.

Usage: ``python bench/bench_bounces.py``.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.bounces.parse import parse  # noqa: E402

N = 10_000


def main() -> int:
    corpus = [p.read_bytes() for p in sorted((ROOT / "tests/data/bounces").glob("*.eml"))]
    expected = [[(e.kind, e.recipient, e.hard) for e in parse(data)] for data in corpus]
    start = time.perf_counter()
    for i in range(N):
        data = corpus[i % len(corpus)]
        got = [(e.kind, e.recipient, e.hard) for e in parse(data)]
        if got != expected[i % len(corpus)]:
            print(f"message {i % len(corpus)} classified differently: {got}")
            return 1
    elapsed = time.perf_counter() - start
    # Peak memory of one pass over the corpus (tracemalloc slows parsing down a lot).
    tracemalloc.start()
    for data in corpus:
        parse(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"classified {N} bounce messages in {elapsed:.2f} s: {N / elapsed:.0f} messages/s; "
        f"peak {peak / 1024:.0f} KiB allocated while parsing one message, "
        f"process peak RSS {rss:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
