"""A change to a console campaign never alters an issue already approved or being sent.

An approved issue whose send never started (a crash before the outbox was filled)
and one whose send stopped half-way (its outbox filled, nothing handed over) are
both sent after the campaign's audience, subject and languages were changed in
the console, with the configuration a daemon reloads after the change: each goes
to the recipients, in the language and with the subject it was approved with.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load, merge_console, sync
from outreach.delivery import send_issue
from outreach.delivery.backends import memory
from outreach.issues import approve_issue, build_issue
from outreach.models import Delivery, Issue, IssueStatus
from outreach.settings import Settings
from outreach.staff import authoring
from outreach.subscriptions import SignUp, add_subscriber
from tests.conftest import ROOT

CAMPAIGNS = ROOT / "campaigns"
TEMPLATES = ROOT / "templates"
WHO = authoring.Who("toimittaja@vantaa.fi", "127.0.0.1")
BEFORE = "Vantaan ilmastokirje {{ issue.period_label }}"


def campaign(**changes: Any) -> dict[str, Any]:
    return {
        "slug": "vantaa-kokeilu", "kind": "newsletter", "city": "vantaa",
        "title": {"fi": "Kokeilukirje"}, "languages": ["fi"],
        "schedule": {"day": "1st tue", "hour": 9}, "when_empty": "send",
        "subject": {"fi": BEFORE}, "audience": {"topics": ["climate"]},
        "sections": [{"id": "news", "kind": "news", "title": {"fi": "Uutiset", "sv": "Nyheter"},
                      "sources": [{"type": "rss", "url": "https://www.vantaa.fi/feed/"}]}],
        **changes,
    }  # fmt: skip


def subscribe(engine: Engine, settings: Settings, email: str, topics: list[str]) -> None:
    config = load(CAMPAIGNS, TEMPLATES)
    with Session(engine) as s:
        signup = SignUp.clean(config, "vantaa", email=email, topics=topics, language="sv")
        add_subscriber(s, settings, config, "vantaa", signup, None, confirmed=True,
                       consent_note="test")  # fmt: skip
        s.commit()


def current_config(engine: Engine) -> Any:
    """What a daemon (or the web app) loads: the files plus the console campaigns."""
    with Session(engine) as s:
        return merge_console(load(CAMPAIGNS, TEMPLATES), s, TEMPLATES)


def test_a_console_change_never_alters_an_approved_or_half_sent_issue(
    db_engine: Engine, db_settings: Settings
) -> None:
    engine, settings = db_engine, db_settings
    # Swedish readers, Finnish-only campaign: they get the Finnish edition
    subscribe(engine, settings, "ilmasto@yritys.fi", ["climate"])
    subscribe(engine, settings, "kumpikin@yritys.fi", ["climate", "trainings"])
    subscribe(engine, settings, "koulutus@yritys.fi", ["trainings"])
    with Session(engine) as s:
        authoring.save_campaign(s, load(CAMPAIGNS, TEMPLATES), campaign(), WHO, city="vantaa",
                                texts=None, templates_dir=TEMPLATES, create=True)  # fmt: skip
        s.commit()
    config = current_config(engine)
    ids = {}
    with Session(engine) as s:
        sync(s, config)
        for period in ("2026-11", "2026-12"):
            built = build_issue(s, settings, config, "vantaa-kokeilu", period=period,
                                now=datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
            assert built.issue is not None
            approve_issue(s, built.issue.id, by="hyvaksyja@vantaa.fi")
            ids[period] = built.issue.id
        s.commit()
    # the December send starts and stops before a message goes (as after a crash)
    stopped = threading.Event()
    stopped.set()
    send_issue(settings, config, ids["2026-12"], stop=stopped)
    with Session(engine) as s:
        half = s.get(Issue, ids["2026-12"])
        assert half is not None and half.status == IssueStatus.SENDING
        assert s.get(Issue, ids["2026-11"]).status == IssueStatus.APPROVED  # type: ignore[union-attr]

    # the console changes who, what and in which languages
    changed = campaign(
        audience={"topics": ["trainings"]}, languages=["sv", "fi"],
        subject={"sv": "Helt ny rubrik", "fi": "Aivan uusi otsikko"},
    )  # fmt: skip
    with Session(engine) as s:
        authoring.save_campaign(s, config, changed, WHO, city="vantaa", texts=None,
                                templates_dir=TEMPLATES, create=False)  # fmt: skip
        s.commit()
    reloaded = current_config(engine)
    assert reloaded.campaigns["vantaa-kokeilu"].languages == ["sv", "fi"]

    # both are sent with the reloaded configuration, as approved
    memory.clear()
    for period in ("2026-11", "2026-12"):
        report = send_issue(settings, reloaded, ids[period])
        assert report.status == "sent", report
    approved = {"ilmasto@yritys.fi", "kumpikin@yritys.fi"}
    with Session(engine) as s:
        for issue_id in ids.values():
            rows = s.execute(
                select(Delivery.email, Delivery.language).where(Delivery.issue_id == issue_id)
            ).all()
            assert {email for email, _ in rows} == approved
            assert {lang for _, lang in rows} == {"fi"}
    sent = [(m.recipients[0], str(m.message["Subject"])) for m in memory.outbox]
    assert sorted(to for to, _ in sent) == sorted([*approved, *approved])  # each issue, once
    subjects = {subject for _, subject in sent}
    assert subjects == {"Vantaan ilmastokirje marraskuu 2026", "Vantaan ilmastokirje joulukuu 2026"}
