"""A hand-made history of Vantaa (and one Kerava subscriber) whose figures are worked
out by hand in tests/stats/test_figures.py.

Subscriptions of Vantaa (business ID / company, size, language, topics):

    A  1234567-8  small   fi  climate            confirmed 2026-01-10, asked for a visit
    B  2345678-9  medium  sv  climate, trainings confirmed 2026-03-05, unsubscribed 2026-11-03
    C  1234567-8  medium  fi  trainings          confirmed 2026-11-20 (A's company)
    D  "Iso Oy"   large   fi  climate            confirmed 2025-12-01, bounced 2026-11-02
    E  -          -       fi  -                  pending since 2026-11-25
    F  "Pieni Oy" micro   fi  climate            confirmed 2026-10-01

Issue V1 (vantaa-monthly 2026-11, send started 2026-11-01 07:00 UTC): sent to A, B,
D; failed for F; D bounced hard, B complained. Its links: fi 1 (news item 101),
fi 2 (event 102, a training), sv 1 (item 101). Counted clicks: fi 1 x3, fi 2 x1,
sv 1 x2; not counted: 2 of a scanner agent, 2 of a burst.
Issue V2 (2026-12, started 2026-12-01 07:00 UTC): sent to A, C, F; event 103 (no
training); one counted click. A story of "Aurinko Oy" approved with consent on
2026-06-10, another approved without consent. Kerava: G confirmed 2026-02-01,
"Kerava Oy" (small), reached by K1 (kerava-monthly 2026-11).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from outreach.campaigns import Config, sync
from outreach.issues import register_links
from outreach.models import (
    BounceEvent,
    ContentItem,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueItem,
    IssueLink,
    IssueStatus,
    LinkClick,
    SourceState,
    Story,
    StoryStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
V1_START = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
V2_START = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _entry(item: int, title: str, url: str, kind: str = "news") -> dict[str, Any]:
    return {"id": item, "kind": kind, "title": title, "summary": "", "url": url}


def make_issue(
    session: Session,
    campaign_id: int,
    city: str,
    period: str,
    started: datetime | None,
    languages: dict[str, list[tuple[str, list[dict[str, Any]]]]],
) -> Issue:
    snapshot = {
        "kind": "newsletter", "city": city, "campaign": f"{city}-monthly", "period": period,
        "languages": {
            lang: {"sections": [{"id": sid, "entries": entries} for sid, entries in secs]}
            for lang, secs in languages.items()
        },
    }  # fmt: skip
    issue = Issue(
        campaign_id=campaign_id,
        period=period,
        status=IssueStatus.SENT if started else IssueStatus.DRAFT,
        snapshot=snapshot,
        built_at=(started or NOW),
        send_started_at=started,
        sent_at=started,
    )
    session.add(issue)
    session.flush()
    register_links(session, issue)
    return issue


def populate(session: Session, config: Config) -> dict[str, Any]:
    rows = sync(session, config)
    vantaa = rows["vantaa-monthly"].city_id
    kerava = rows["kerava-monthly"].city_id
    people = {
        "A": ("a@a.fi", "1234567-8", "A Oy", "small", "fi", ["climate"], "2026-01-10", None),
        "B": ("b@b.fi", "2345678-9", "B Ab", "medium", "sv", ["climate", "trainings"],
              "2026-03-05", "2026-11-03"),
        "C": ("c@a.fi", "1234567-8", "A Oy", "medium", "fi", ["trainings"], "2026-11-20", None),
        "D": ("d@iso.fi", None, "Iso Oy", "large", "fi", ["climate"], "2025-12-01", None),
        "E": ("e@e.fi", None, None, None, "fi", [], None, None),
        "F": ("f@pieni.fi", None, "Pieni Oy", "micro", "fi", ["climate"], "2026-10-01", None),
        "G": ("g@kerava.fi", None, "Kerava Oy", "small", "fi", ["climate"], "2026-02-01", None),
    }  # fmt: skip
    subs: dict[str, Subscription] = {}
    for key, (email, bid, company, size, lang, topics, confirmed, left) in people.items():
        person = Subscriber(
            email=email, business_id=bid, company_name=company, size_class=size,
            language=lang, industry_code="62010" if key in "AC" else None,
            interested_in_visit=key == "A",
        )  # fmt: skip
        status = SubscriptionStatus.CONFIRMED
        if key == "B":
            status = SubscriptionStatus.UNSUBSCRIBED
        elif key == "D":
            status = SubscriptionStatus.BOUNCED
        elif key == "E":
            status = SubscriptionStatus.PENDING
        sub = Subscription(
            subscriber=person, city_id=kerava if key == "G" else vantaa, topics=topics,
            status=status, token_salt="0" * 32, created_at=at(confirmed or "2026-11-25"),
            confirmed_at=at(confirmed) if confirmed else None,
            unsubscribed_at=at(left) if left else None,
            lead_contacted_at=at("2026-11-20") if key == "A" else None,
        )  # fmt: skip
        session.add(sub)
        subs[key] = sub
    session.flush()

    source = SourceState(key="fixture", type="file")
    session.add(source)
    session.flush()
    for item, kind, title in (
        (101, "news", "Aurinkopaneelit"),
        (102, "event", "Energiakoulutus yrityksille"),
        (103, "event", "Ilmastoaamiainen"),
    ):
        session.add(
            ContentItem(id=item, source_id=source.id, kind=kind, external_id=str(item),
                        title=title, fingerprint=str(item))
        )  # fmt: skip
    session.flush()

    v1 = make_issue(
        session, rows["vantaa-monthly"].id, "vantaa", "2026-11", V1_START,
        {"fi": [("news", [_entry(101, "Aurinkopaneelit", "https://vantaa.fi/aurinko")]),
                ("events", [_entry(102, "Energiakoulutus yrityksille",
                                   "https://vantaa.fi/koulutus", "event")])],
         "sv": [("news", [_entry(101, "Solpaneler", "https://vantaa.fi/sv/sol")])]},
    )  # fmt: skip
    v2 = make_issue(
        session,
        rows["vantaa-monthly"].id,
        "vantaa",
        "2026-12",
        V2_START,
        {"fi": [("events", [_entry(103, "Ilmastoaamiainen", "https://vantaa.fi/aamu", "event")])]},
    )
    k1 = make_issue(
        session,
        rows["kerava-monthly"].id,
        "kerava",
        "2026-11",
        V1_START,
        {"fi": [("news", [_entry(101, "Aurinkopaneelit", "https://kerava.fi/aurinko")])]},
    )
    for issue, item, section in ((v1, 101, "news"), (v1, 102, "events"), (v2, 103, "events")):
        session.add(IssueItem(issue_id=issue.id, item_id=item, section=section, lead=True))

    def deliver(issue: Issue, key: str, status: DeliveryStatus, lang: str = "fi") -> Delivery:
        sub = subs[key]
        row = Delivery(
            issue_id=issue.id, subscriber_id=sub.subscriber_id, subscription_id=sub.id,
            email=sub.subscriber.email, language=lang, status=status,
            sent_at=issue.send_started_at if status == DeliveryStatus.SENT else None,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row

    deliver(v1, "A", DeliveryStatus.SENT)
    b = deliver(v1, "B", DeliveryStatus.SENT, "sv")
    d = deliver(v1, "D", DeliveryStatus.SENT)
    deliver(v1, "F", DeliveryStatus.FAILED)
    for key in "ACF":
        deliver(v2, key, DeliveryStatus.SENT)
    deliver(k1, "G", DeliveryStatus.SENT)
    session.add_all([
        BounceEvent(report_hash="d", kind="bounced", hard=True, email_hash="hd",
                    delivery_id=d.id, issue_id=v1.id, city_id=vantaa, source="smtp",
                    created_at=at("2026-11-02 08:00")),
        BounceEvent(report_hash="b", kind="complained", email_hash="hb", delivery_id=b.id,
                    issue_id=v1.id, city_id=vantaa, source="smtp",
                    created_at=at("2026-11-03 08:00")),
    ])  # fmt: skip

    def link(issue: Issue, lang: str, n: int) -> IssueLink:
        found = session.query(IssueLink).filter_by(issue_id=issue.id, lang=lang, n=n).one()
        return found

    def click(
        target: IssueLink, times: int, *, counted: bool = True, reason: str | None = None
    ) -> None:
        for i in range(times):
            session.add(
                LinkClick(link_id=target.id, issue_id=target.issue_id, counted=counted,
                          reason=reason, created_at=at("2026-11-05 12:00").replace(minute=i))
            )  # fmt: skip

    click(link(v1, "fi", 1), 3)
    click(link(v1, "fi", 2), 1)
    click(link(v1, "sv", 1), 2)
    click(link(v1, "fi", 1), 2, counted=False, reason="agent")
    click(link(v1, "fi", 2), 2, counted=False, reason="burst")
    click(link(v2, "fi", 1), 1)
    story = {"city_id": vantaa, "title": "t", "body": "b", "status": StoryStatus.APPROVED}
    session.add_all([
        Story(company_name="Aurinko Oy", consent_to_publish=True,
              decided_at=at("2026-06-10 10:00"), **story),
        Story(company_name="Salainen Oy", consent_to_publish=False,
              decided_at=at("2026-06-11 10:00"), **story),
    ])  # fmt: skip
    session.commit()
    return {"v1": v1.id, "v2": v2.id, "k1": k1.id}
