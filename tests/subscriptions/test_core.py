"""Sign-up, double opt-in, unsubscribe, preferences: consent trail and limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import InvalidTokenError, SubscriptionError
from outreach.models import (
    ConsentRecord,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from outreach.settings import Settings
from outreach.subscriptions import (
    RecordingMailer,
    add_subscriber,
    confirm,
    current_preferences,
    forget,
    purge_pending,
    show,
    subscribe,
    token_for,
    unsubscribe,
    update_preferences,
)
from outreach.suppression import suppression_key
from outreach.tokens import make_token
from outreach.validation import email_hash
from tests.subscriptions.conftest import signup


def actions(session: Session, sub: Subscription) -> list[tuple[str, str]]:
    rows = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subscription_id == sub.id)
        .order_by(ConsentRecord.id)
    )
    return [(r.action, r.channel) for r in rows]


def test_subscribe_creates_pending_with_consent_and_mail(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    out = subscribe(
        session,
        settings,
        config,
        "vantaa",
        signup(config, language="sv"),
        mailer,
        detail="https://x/vantaa/subscribe",
    )
    sub = out.subscription
    assert sub is not None and sub.status == SubscriptionStatus.PENDING
    assert out.mailed and len(mailer.sent) == 1
    mail = mailer.sent[0]
    assert mail.to == "matti@yritys.fi" and mail.lang == "sv" and mail.city_name == "Vanda"
    assert mail.confirm_url.startswith("https://outreach.example.fi/confirm/")
    assert mail.topics == ["Stadens klimatarbete och nyheter"]
    record = session.scalars(select(ConsentRecord)).one()
    assert (
        record.action == "given"
        and record.consent_version
        and "Vanda" in (record.consent_text or "")
    )
    assert record.detail == "https://x/vantaa/subscribe"


def test_one_confirmation_mail_per_day(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    now = datetime.now(UTC)
    for _ in range(20):
        subscribe(session, settings, config, "vantaa", signup(config), mailer, now=now)
    assert len(mailer.sent) == 1
    subscribe(
        session, settings, config, "vantaa", signup(config), mailer, now=now + timedelta(hours=23)
    )
    assert len(mailer.sent) == 1
    subscribe(
        session, settings, config, "vantaa", signup(config), mailer, now=now + timedelta(hours=25)
    )
    assert len(mailer.sent) == 2
    assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_known_address_cannot_change_confirmed_topics(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    confirm(session, settings, token_for(settings, sub, "confirm"))
    out = subscribe(
        session,
        settings,
        config,
        "vantaa",
        signup(config, topics=["awards"], company_name="Evil Oy"),
        mailer,
    )
    assert out.subscription is sub and sub.topics == ["climate"]
    assert sub.subscriber.company_name is None
    assert len(mailer.sent) == 1


def test_confirm_twice_and_after_unsubscribe(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    token = token_for(settings, sub, "confirm")
    assert confirm(session, settings, token).status == SubscriptionStatus.CONFIRMED
    assert confirm(session, settings, token).status == SubscriptionStatus.CONFIRMED
    assert [a for a, _ in actions(session, sub)] == ["given", "confirmed"]
    unsubscribe(session, settings, token_for(settings, sub, "unsubscribe"))
    with pytest.raises(InvalidTokenError):
        confirm(session, settings, token)


def test_confirm_token_expires(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    old = make_token(
        settings.secret(),
        "confirm",
        sub.id,
        sub.token_salt,
        now=datetime.now(UTC) - timedelta(days=8),
    )
    with pytest.raises(InvalidTokenError):
        confirm(session, settings, old)
    with pytest.raises(InvalidTokenError):  # a token for another purpose
        confirm(session, settings, token_for(settings, sub, "unsubscribe"))


def test_resubscribe_rotates_tokens(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    old_unsub = token_for(settings, sub, "unsubscribe")
    unsubscribe(session, settings, old_unsub)
    subscribe(session, settings, config, "vantaa", signup(config), mailer)
    assert sub.status == SubscriptionStatus.PENDING
    with pytest.raises(InvalidTokenError):
        unsubscribe(session, settings, old_unsub)


def test_unsubscribe_city_or_all_and_pending_deliveries_skipped(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    subs = []
    for city in ("vantaa", "kerava", "jarvenpaa"):
        sub = add_subscriber(
            session,
            settings,
            config,
            city,
            signup(config, city=city),
            None,
            confirmed=True,
            consent_note="customer relationship",
        )
        assert sub is not None
        subs.append(sub)
    unsubscribe(session, settings, token_for(settings, subs[0], "unsubscribe"), channel="one-click")
    assert [s.status for s in subs] == [
        SubscriptionStatus.UNSUBSCRIBED,
        SubscriptionStatus.CONFIRMED,
        SubscriptionStatus.CONFIRMED,
    ]
    assert actions(session, subs[0])[-1] == ("withdrawn", "one-click")
    unsubscribe(session, settings, token_for(settings, subs[1], "unsubscribe"), scope="all")
    assert all(s.status == SubscriptionStatus.UNSUBSCRIBED for s in subs)


def test_unsubscribe_skips_deliveries_not_yet_handed_over(
    session: Session, settings: Settings, config: Config
) -> None:
    from outreach.campaigns import sync
    from outreach.models import Campaign, Issue

    sub = add_subscriber(
        session,
        settings,
        config,
        "kerava",
        signup(config, city="kerava"),
        None,
        confirmed=True,
        consent_note="contract",
    )
    assert sub is not None
    sync(session, config)
    camp = session.scalars(select(Campaign)).first()
    assert camp is not None
    issue = Issue(campaign_id=camp.id, period="2026-12")
    session.add(issue)
    session.flush()
    sent = Delivery(
        issue_id=issue.id,
        subscriber_id=sub.subscriber_id,
        subscription_id=sub.id,
        email="matti@yritys.fi",
        language="fi",
        status=DeliveryStatus.SENT,
    )
    issue2 = Issue(campaign_id=camp.id, period="2027-01")
    session.add(issue2)
    session.flush()
    waiting = Delivery(
        issue_id=issue2.id,
        subscriber_id=sub.subscriber_id,
        subscription_id=sub.id,
        email="matti@yritys.fi",
        language="fi",
    )
    session.add_all([sent, waiting])
    session.flush()
    unsubscribe(session, settings, token_for(settings, sub, "unsubscribe"))
    session.refresh(sent)
    session.refresh(waiting)
    assert sent.status == DeliveryStatus.SENT
    assert waiting.status == DeliveryStatus.SKIPPED


def test_confirmed_addition_needs_a_consent_note(
    session: Session, settings: Settings, config: Config
) -> None:
    with pytest.raises(SubscriptionError, match="consent note"):
        add_subscriber(session, settings, config, "vantaa", signup(config), None, confirmed=True)


def test_suppressed_address_is_left_alone(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    digest = email_hash("matti@yritys.fi", suppression_key(settings))
    session.add(Suppression(email_hash=digest, reason="complaint"))
    out = subscribe(session, settings, config, "vantaa", signup(config), mailer)
    assert out.subscription is None and mailer.sent == []
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_forget_erases_everything_and_suppresses(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(
        session, settings, config, "vantaa", signup(config, company_name="Yritys Oy"), mailer
    ).subscription
    assert sub is not None
    data = show(session, settings, "MATTI@yritys.fi")
    assert data is not None and data["subscriber"]["company_name"] == "Yritys Oy"
    assert data["subscriptions"][0]["consent"][0]["action"] == "given"
    assert forget(session, settings, "matti@yritys.fi") is True
    for model in (Subscriber, Subscription, ConsentRecord):
        assert session.scalar(select(func.count()).select_from(model)) == 0
    assert session.scalars(select(Suppression)).one().reason == "erased"
    remaining = show(session, settings, "matti@yritys.fi")
    assert remaining is not None and set(remaining) == {"email", "suppression"}
    # neither staff nor API can re-add it; the person may sign up again on the web
    assert add_subscriber(session, settings, config, "vantaa", signup(config), mailer) is None
    again = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert again is not None
    confirm(session, settings, token_for(settings, again, "confirm"))
    assert session.scalar(select(func.count()).select_from(Suppression)) == 0


def test_purge_pending(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=settings.pending_purge_days + 1)
    subscribe(
        session, settings, config, "vantaa", signup(config, "old@yritys.fi"), mailer, now=long_ago
    )
    subscribe(session, settings, config, "vantaa", signup(config, "new@yritys.fi"), mailer)
    kept = add_subscriber(
        session,
        settings,
        config,
        "kerava",
        signup(config, "old2@yritys.fi", "kerava"),
        None,
        confirmed=True,
        consent_note="contract",
        now=long_ago,
    )
    assert kept is not None
    assert purge_pending(session, settings) == 1
    emails = set(session.scalars(select(Subscriber.email)))
    assert emails == {"new@yritys.fi", "old2@yritys.fi"}


def test_purge_keeps_the_history_of_a_once_confirmed_subscription(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    """Anyone who knows an ex-subscriber's address can sign it up again; leaving that
    unconfirmed must not erase the consent log of the earlier subscription."""
    from outreach.errors import DeliveryError

    def failing(_mail: object) -> None:
        raise DeliveryError("relay down")

    years_ago = datetime.now(UTC) - timedelta(days=700)
    sub = subscribe(
        session, settings, config, "vantaa", signup(config), mailer, now=years_ago
    ).subscription
    assert sub is not None
    confirm(session, settings, token_for(settings, sub, "confirm"), now=years_ago)
    unsubscribe(session, settings, token_for(settings, sub, "unsubscribe"), now=years_ago)
    again = subscribe(session, settings, config, "vantaa", signup(config), failing)
    assert again.subscription is sub and sub.status == SubscriptionStatus.PENDING
    assert purge_pending(session, settings) == 0
    assert [a for a, _ in actions(session, sub)] == ["given", "confirmed", "withdrawn", "given"]


def test_preferences_update(
    session: Session, settings: Settings, config: Config, mailer: RecordingMailer
) -> None:
    sub = subscribe(session, settings, config, "vantaa", signup(config), mailer).subscription
    assert sub is not None
    confirm(session, settings, token_for(settings, sub, "confirm"))
    token = token_for(settings, sub, "preferences")
    update_preferences(
        session,
        settings,
        config,
        token,
        cities=["kerava"],
        topics=["climate", "awards"],
        language="sv",
        company_name="Yritys Oy",
        business_id="0112038-9",
        contact_name=None,
        size_class="small",
        industry_code="62010",
        interested_in_visit=True,
    )
    prefs = current_preferences(config, sub)
    assert prefs.cities == ["kerava"] and prefs.topics == ["awards", "climate"]
    assert sub.status == SubscriptionStatus.UNSUBSCRIBED
    assert sub.subscriber.interested_in_visit and sub.subscriber.language == "sv"
    with pytest.raises(SubscriptionError):
        update_preferences(
            session,
            settings,
            config,
            token,
            cities=["kerava"],
            topics=[],
            language="fi",
            company_name=None,
            business_id="0112038-8",
            contact_name=None,
            size_class=None,
            industry_code=None,
            interested_in_visit=False,
        )
