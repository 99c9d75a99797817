"""Benchmark: one build and render of an issue against personalising it per recipient.

Builds a three-section issue (news, events, stories) of Vantaa's newsletter
from 200 candidate items per section in a fresh SQLite database, renders it in
Finnish (templates + CSS inlining), then personalises it for 10,000
recipients with the delivery stage's own code: two signed links and the fill
of the message serialised once per issue language (substitution, the header
values and the quoted-printable encoding of the substituted values). The goal:
one recipient costs at most 1/50 of one build and render.

Run: ``.venv/bin/python bench/bench_render.py``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.campaigns import NewsletterCampaign, load  # noqa: E402
from outreach.db import create_db_engine  # noqa: E402
from outreach.delivery.message import MessageTemplate, Recipient  # noqa: E402
from outreach.issues import build_issue  # noqa: E402
from outreach.models import Base, ContentItem, SourceState  # noqa: E402
from outreach.render import render_issue  # noqa: E402
from outreach.settings import Settings  # noqa: E402
from outreach.tokens import make_token  # noqa: E402

CANDIDATES = 200
RECIPIENTS = 10_000
RUNS = 7
LIMIT = 50
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def _populate(session: Session, campaign: NewsletterCampaign) -> None:
    kinds = {"news": "news", "events": "event", "stories": "story"}
    n = 0
    for section in campaign.sections:
        src = section.sources[0]
        key = src.source.state_key(campaign.city)
        state = SourceState(key=key, type=src.type)
        session.add(state)
        session.flush()
        for i in range(CANDIDATES):
            n += 1
            session.add(
                ContentItem(
                    source_id=state.id,
                    kind=kinds[section.kind],
                    external_id=f"{section.id}-{i}",
                    title=f"Ilmastotyö etenee, osa {i}: energiaremontit & päästöt",
                    summary="Kaupungin ilmastotyö etenee. " * 8,
                    url=f"https://www.vantaa.fi/fi/ajankohtaista/{section.id}/{i}",
                    language="fi" if i % 3 else "sv",
                    published_at=NOW - timedelta(hours=i + 1),
                    first_seen_at=NOW - timedelta(hours=i + 1),
                    starts_at=NOW + timedelta(hours=i + 2),
                    ends_at=NOW + timedelta(hours=i + 4),
                    location="Tikkurilan kirjasto, Lummetie 4",
                    price="" if i % 2 else "10 €",
                    fingerprint=f"fp-{n}",
                )
            )
    session.flush()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            base_url="https://outreach.example.fi",
            campaigns_dir=ROOT / "campaigns",
            templates_dir=ROOT / "templates",
            var_dir=Path(tmp),
            secret_key="bench-secret-key-0123456789abcdef0123456789",
        )
        config = load(settings.campaigns_path, settings.templates_path)
        campaign = config.campaigns["vantaa-monthly"]
        assert isinstance(campaign, NewsletterCampaign)
        sections = [
            s.model_copy(update={"max_items": 8})
            for s in campaign.sections
            if s.kind in ("news", "events", "stories")
        ]
        campaign = campaign.model_copy(update={"sections": sections[:3]})
        config.campaigns["vantaa-monthly"] = campaign
        engine = create_db_engine(settings.database_url)
        Base.metadata.create_all(engine)
        with Session(engine, expire_on_commit=False) as session:
            _populate(session, campaign)
            times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                result = build_issue(session, settings, config, campaign.slug, now=NOW)
                assert result.issue is not None
                message = render_issue(settings, config, result.issue, "fi")
                times.append(time.perf_counter() - start)
        engine.dispose()
    render_s = statistics.median(times)

    # Per recipient, exactly what the delivery stage does: two signed links and
    # the fill of the message serialised once per issue language.
    template = MessageTemplate(
        config.cities["vantaa"].sender, "fi", message, list_id="<vantaa-monthly.vantaa.outreach>"
    )
    secret = settings.secret()
    base = settings.base_url_clean
    names = [f"Maija <{i}> Meikäläinen & Co" for i in range(RECIPIENTS)]
    start = time.perf_counter()
    total = 0
    for i, name in enumerate(names):
        unsubscribe = make_token(secret, "unsubscribe", i, "salt")
        preferences = make_token(secret, "preferences", i, "salt")
        filled = template.fill(
            Recipient(
                to=f"maija.{i}@yritys.example.fi",
                message_id=f"<issue-1.sub-{i}@vantaa.fi>",
                unsubscribe_url=f"{base}/unsubscribe/{unsubscribe}",
                preferences_url=f"{base}/preferences/{preferences}",
                contact_name=name,
            )
        )
        total += len(filled.data)
    per_recipient_s = (time.perf_counter() - start) / RECIPIENTS
    assert total > 0

    ratio = render_s / per_recipient_s
    ok = ratio >= LIMIT
    print(
        f"render: {render_s * 1000:.1f} ms; per recipient: {per_recipient_s * 1e6:.1f} µs; "
        f"ratio 1/{ratio:.0f} (limit 1/{LIMIT}) {'OK' if ok else 'TOO SLOW'}"
    )
    print(
        f"  ({len(sections[:3])} sections × {CANDIDATES} candidates, HTML "
        f"{len(message.html.encode()) // 1024} KB, median of {RUNS} builds; "
        f"{RECIPIENTS} recipients)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
