"""The scheduler driving the real stages: build → approve → send, once, with run-due.

The campaigns are announcements (no sources to fetch), whose issue period is the year.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outreach.campaigns import sync
from outreach.db import create_db_engine, get_engine, session_scope
from outreach.models import (
    Base,
    City,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueReach,
    IssueStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.scheduler import Daemon, run_due, status
from outreach.scheduler.pipeline import StagePipeline, load_config
from outreach.scheduler.runs import sync_campaigns
from outreach.settings import Settings
from tests.scheduler.helpers import (
    MONTHLY,
    make_campaigns,
    make_settings,
    only_campaign,
    wait_for,
    write_campaign,
)
from tests.scheduler.test_daemon import start, started, stop

issues_stage = pytest.importorskip("outreach.issues")
pytest.importorskip("outreach.sources.ingest")

KNOWN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIRE = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # first Tuesday of December, 9.00 EET


def subscribe(settings: Settings, city: str, n: int) -> None:
    with session_scope(get_engine(settings)) as session:
        city_id = session.scalars(select(City.id).where(City.slug == city)).one()
        for i in range(n):
            person = Subscriber(email=f"{city}{i}@example.fi", language="fi")
            session.add(person)
            session.flush()
            session.add(
                Subscription(
                    subscriber_id=person.id,
                    city_id=city_id,
                    topics=["climate"],
                    status=SubscriptionStatus.CONFIRMED,
                    confirmed_at=KNOWN,
                    token_salt=f"salt{i}",
                )
            )


def counts(settings: Settings) -> dict[str, int]:
    with session_scope(get_engine(settings)) as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(s): int(n) for s, n in rows}


def issue_rows(settings: Settings) -> list[tuple[str, str]]:
    with session_scope(get_engine(settings)) as session:
        return [
            (i.period, str(i.status)) for i in session.scalars(select(Issue).order_by(Issue.id))
        ]


def test_auto_campaign_is_built_approved_and_sent_once(
    sched_settings: Settings, tmp_path: Path
) -> None:
    folder = make_campaigns(
        tmp_path / "auto-campaigns",
        {"vantaa-news": {"schedule": MONTHLY, "approval": "auto"}},
    )
    settings = sched_settings.model_copy(update={"campaigns_dir": folder})
    run_due(settings, now=KNOWN)
    subscribe(settings, "vantaa", 5)
    outcomes = run_due(settings, now=FIRE + timedelta(minutes=5))
    ran = [o for o in outcomes if o.name == "vantaa-news"]
    assert [o.status for o in ran] == ["ok"], outcomes
    assert issue_rows(settings) == [("2026", "sent")]
    assert counts(settings) == {"sent": 5}
    assert run_due(settings, now=FIRE + timedelta(minutes=20)) == []
    assert counts(settings) == {"sent": 5}


def test_run_due_after_a_long_pause_records_the_missed_run_and_sends_nothing_late(
    sched_settings: Settings, tmp_path: Path
) -> None:
    folder = make_campaigns(
        tmp_path / "auto-campaigns",
        {"vantaa-news": {"schedule": MONTHLY, "approval": "auto"}},
    )
    settings = sched_settings.model_copy(update={"campaigns_dir": folder})
    run_due(settings, now=KNOWN)
    subscribe(settings, "vantaa", 4)
    # Cron paused for six weeks: the December and January runs coalesce into the
    # latest (Tue 5 January), which is days past its grace time.
    pause_over = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    outcomes = run_due(settings, now=pause_over)
    missed = [o for o in outcomes if o.name == "vantaa-news"]
    assert [(o.status, o.fire_time) for o in missed] == [
        ("missed", datetime(2027, 1, 5, 7, 0, tzinfo=UTC))
    ]
    assert issue_rows(settings) == []
    assert counts(settings) == {}
    assert run_due(settings, now=pause_over + timedelta(minutes=15)) == []
    # The next fire time runs as usual.
    february = datetime(2027, 2, 2, 7, 0, tzinfo=UTC)
    ran = [o for o in run_due(settings, now=february + timedelta(minutes=10)) if o.name != "fetch"]
    assert [(o.name, o.status) for o in ran if o.name == "vantaa-news"] == [("vantaa-news", "ok")]
    assert issue_rows(settings) == [("2027", "sent")]
    assert counts(settings) == {"sent": 4}


def test_manual_campaign_waits_for_approval_then_the_next_pass_sends(
    sched_settings: Settings,
) -> None:
    run_due(sched_settings, now=KNOWN)
    subscribe(sched_settings, "vantaa", 3)
    run_due(sched_settings, now=FIRE + timedelta(minutes=5))
    report = status(sched_settings, now=FIRE + timedelta(minutes=6))
    assert sorted(i.campaign for i in report.waiting) == ["kerava-news", "vantaa-news"]
    assert counts(sched_settings) == {}
    with session_scope(get_engine(sched_settings)) as session:
        issue_id = next(i.id for i in report.waiting if i.campaign == "vantaa-news")
        issues_stage.approve_issue(
            session, issue_id, by="viestintä", now=FIRE + timedelta(minutes=30)
        )
    outcomes = run_due(sched_settings, now=FIRE + timedelta(minutes=35))
    assert [(o.name, o.status) for o in outcomes] == [("send", "ok")]
    assert counts(sched_settings) == {str(DeliveryStatus.SENT): 3}
    with session_scope(get_engine(sched_settings)) as session:  # settled: folded at its end
        assert list(session.scalars(select(IssueReach.issue_id))) == [issue_id]
    assert sorted(issue_rows(sched_settings)) == [
        ("2026", str(IssueStatus.DRAFT)),
        ("2026", str(IssueStatus.SENT)),
    ]
    assert run_due(sched_settings, now=FIRE + timedelta(minutes=40)) == []


@pytest.mark.postgres
def test_two_daemons_on_postgres_build_once_and_send_once(pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, pg_url)
    write_campaign(
        settings.campaigns_dir, "vantaa-minutely", schedule={"minute": "*"}, approval="auto"
    )
    only_campaign(settings.campaigns_dir, "vantaa-minutely")
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as session:  # known for an hour: the latest minute is due
        sync_campaigns(session, load_config(settings), datetime.now(UTC) - timedelta(hours=1))
    engine.dispose()
    subscribe(settings, "vantaa", 40)

    daemons = [start(tmp_path, pg_url, "--real", "--poll", "0.3") for _ in range(2)]
    try:
        # Both are up before either is stopped: a daemon still starting up when the
        # other has sent everything would die of the SIGTERM instead of exiting 0.
        assert wait_for(lambda: all(started(tmp_path, proc) for proc in daemons), 30)
        assert wait_for(lambda: counts(settings).get("sent") == 40, 30)
    finally:
        codes = [stop(proc) for proc in daemons]
    assert codes == [0, 0]
    with session_scope(get_engine(settings)) as session:
        built = session.scalars(select(Issue)).all()
        attempts = session.scalars(select(Delivery.attempts)).all()
    assert [str(i.status) for i in built] == ["sent"]
    assert sorted(attempts) == [1] * 40  # every message handed over exactly once


def approved_call(settings: Settings, subscribers: int, city: str = "vantaa") -> str:
    """A campaign ``<city>-call`` (not due now) with an issue approved for
    ``subscribers`` subscribers of the city; returns the issue's period."""
    slug = f"{city}-call"
    write_campaign(settings.campaigns_dir, slug, schedule={"month": 1, "day": 1}, city=city)
    config = load_config(settings)
    with session_scope(get_engine(settings)) as session:
        sync(session, config)
    subscribe(settings, city, subscribers)
    with session_scope(get_engine(settings)) as session:
        built = issues_stage.build_issue(session, settings, config, slug)
        assert built.issue is not None
        issues_stage.approve_issue(session, built.issue.id, by="viestintä")
        return str(built.issue.period)


def no_campaigns(settings: Settings) -> None:
    for path in settings.campaigns_dir.glob("*.yaml"):
        if path.name != "cities.yaml":
            path.unlink()


def test_sigterm_mid_send_finishes_in_flight_and_a_later_start_finishes_the_issue(
    sched_settings: Settings, tmp_path: Path
) -> None:
    no_campaigns(sched_settings)
    period = approved_call(sched_settings, 30)
    args = ("--real", "--rate", "20")
    proc = start(tmp_path, sched_settings.database_url, *args)
    try:
        assert wait_for(lambda: counts(sched_settings).get("sent", 0) >= 3, 20)
    finally:
        assert stop(proc, timeout=10) == 0
    after_stop = counts(sched_settings)
    assert 3 <= after_stop.get("sent", 0) < 30
    assert "sending" not in after_stop  # nothing left claimed: in-flight work committed
    assert sum(after_stop.values()) == 30

    proc = start(tmp_path, sched_settings.database_url, *args)
    try:
        assert wait_for(lambda: counts(sched_settings).get("sent") == 30, 20)
    finally:
        assert stop(proc, timeout=10) == 0
    with session_scope(get_engine(sched_settings)) as session:
        attempts = session.scalars(select(Delivery.attempts)).all()
    assert sorted(attempts) == [1] * 30  # each message handed over once
    assert issue_rows(sched_settings) == [(period, "sent")]


JAN5 = datetime(2027, 1, 5, 7, 0, tzinfo=UTC)  # first Tuesday of January, 9.00 EET


def approved_for_2027(settings: Settings, *, send_at: datetime, cancel: bool) -> int:
    """vantaa-news' 2027 issue built and approved in December, scheduled for ``send_at``
    and (``cancel``) its schedule cancelled again: `issue schedule ID --cancel`."""
    config = load_config(settings)
    dec20 = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)
    with session_scope(get_engine(settings)) as session:
        built = issues_stage.build_issue(
            session, settings, config, "vantaa-news", period="2027", now=dec20
        )
        assert built.issue is not None
        issue = issues_stage.approve_issue(session, built.issue.id, by="viestintä", now=dec20)
        issues_stage.schedule_send(session, issue, send_at, by="viestintä", now=dec20)
        if cancel:
            issues_stage.cancel_schedule(session, issue, by="viestintä", now=dec20)
        return issue.id


def sends_of(settings: Settings, issue_id: int) -> list[str | None]:
    with session_scope(get_engine(settings)) as session:
        return [e.detail for e in issues_stage.history(session, issue_id) if e.action == "send"]


@pytest.mark.parametrize("face", ["run-due", "daemon"])
def test_the_campaigns_fire_time_never_sends_an_issue_whose_schedule_was_cancelled(
    sched_settings: Settings, face: str
) -> None:
    run_due(sched_settings, now=KNOWN)
    subscribe(sched_settings, "vantaa", 2)
    issue_id = approved_for_2027(sched_settings, send_at=JAN5 + timedelta(days=1), cancel=True)
    moment = JAN5 + timedelta(minutes=5)  # Tue 5.1.2027 9.05 Helsinki: the campaign's run
    if face == "run-due":
        ran = [o for o in run_due(sched_settings, now=moment) if o.name == "vantaa-news"]
        assert [o.status for o in ran] == ["ok"]
        line = ran[0].lines("en")[0]
    else:  # the daemon's campaign job and its send loop, on the same clock
        d = Daemon(
            sched_settings,
            pipeline_factory=lambda s, c, stop: StagePipeline(
                s, config=c, stop=stop, clock=lambda: moment
            ),
            clock=lambda: moment,
        )
        d.catch_up()
        d.run_campaign("vantaa-news")
        d.run_periodic("send")
        [line] = [x for x in status(sched_settings, now=moment).lines("en") if "vantaa-news:" in x]
    assert "its schedule was cancelled: it waits to be sent by hand or scheduled again" in line
    assert counts(sched_settings) == {}
    # nor does a send of that issue asked for by name (a race with the cancel)
    pipeline = StagePipeline(sched_settings, clock=lambda: moment)
    assert pipeline.send_issue(issue_id).status == "idle"
    assert counts(sched_settings) == {}
    assert sends_of(sched_settings, issue_id) == []
    with session_scope(get_engine(sched_settings)) as session:
        issue = session.get(Issue, issue_id)
        assert issue is not None and issue.status == IssueStatus.APPROVED and issue.kept_back


def test_the_campaigns_fire_time_leaves_a_scheduled_issue_to_its_time(
    sched_settings: Settings,
) -> None:
    run_due(sched_settings, now=KNOWN)
    subscribe(sched_settings, "vantaa", 2)
    later = JAN5 + timedelta(days=2)  # Thu 7.1.2027 9.00
    issue_id = approved_for_2027(sched_settings, send_at=later, cancel=False)
    outcomes = run_due(sched_settings, now=JAN5 + timedelta(minutes=5))
    ran = [o for o in outcomes if o.name == "vantaa-news"]
    assert "ajastettu lähetettäväksi to 7.1.2027 klo 9.00" in ran[0].lines("fi")[0]
    assert counts(sched_settings) == {}
    run_due(sched_settings, now=later + timedelta(minutes=1))
    assert counts(sched_settings) == {"sent": 2}
    assert sends_of(sched_settings, issue_id) == ["scheduled"]


def test_a_mail_server_down_at_a_send_check_does_not_stop_the_daemon(
    sched_settings: Settings, tmp_path: Path
) -> None:
    """Nothing listens where the mail goes: each send check fails, the daemon logs
    one line and keeps running; once the server is up the next check sends."""
    from aiosmtpd.controller import Controller

    from tests.delivery.conftest import ScriptedHandler, free_port
    from tests.scheduler.outage import daemon_log

    no_campaigns(sched_settings)
    period = approved_call(sched_settings, 12)
    port = free_port()
    url = f"smtp://127.0.0.1:{port}?starttls=false"
    proc = start(tmp_path, sched_settings.database_url, "--real", "--mail-url", url)
    sink = Controller(ScriptedHandler(), hostname="127.0.0.1", port=port)
    try:
        assert wait_for(lambda: "send: error" in daemon_log(tmp_path, proc.pid), 30)
        time.sleep(1.0)  # ten more send checks (every 0.1 s), each failing
        assert proc.poll() is None, daemon_log(tmp_path, proc.pid)
        logged = daemon_log(tmp_path, proc.pid)
        assert logged.count("send: error") == 1  # one line, not one per check
        assert "cannot connect" in logged or "Connection refused" in logged
        assert "stopping" not in logged and "stopped cleanly" not in logged
        assert counts(sched_settings) == {"pending": 12}
        sink.start()
        assert wait_for(lambda: counts(sched_settings).get("sent") == 12, 30)
        assert wait_for(lambda: "send checks pass again" in daemon_log(tmp_path, proc.pid))
    finally:
        code = stop(proc)
        sink.stop(no_assert=True)  # not started when an assertion before failed
    assert code == 0
    assert issue_rows(sched_settings) == [(period, "sent")]


def test_run_due_sends_the_other_issues_when_one_citys_mail_server_is_down(
    sched_settings: Settings,
) -> None:
    """Kerava's mail server cannot be reached: its issue's send fails with one line,
    and the same pass still sends Vantaa's issue."""
    from tests.delivery.conftest import free_port

    cities = sched_settings.campaigns_dir / "cities.yaml"
    down = f"    mail_url: smtp://127.0.0.1:{free_port()}?starttls=false\n"
    cities.write_text(cities.read_text().replace("  - slug: kerava\n", "  - slug: kerava\n" + down))
    no_campaigns(sched_settings)
    approved_call(sched_settings, 3, city="kerava")  # the lower id: sent first
    approved_call(sched_settings, 4)
    outcomes = run_due(sched_settings)
    sends = [(o.status, o.lines()[0]) for o in outcomes if o.name == "send"]
    assert [status for status, _ in sends] == ["error", "ok"], sends
    assert "cannot connect" in sends[0][1] or "refused" in sends[0][1]
    assert counts(sched_settings) == {"pending": 3, "sent": 4}
    assert sorted(status for _, status in issue_rows(sched_settings)) == ["sending", "sent"]


def test_status_shows_what_became_of_the_issue_a_manual_campaign_built(
    sched_settings: Settings,
) -> None:
    """The run left the issue waiting for approval; ``outreach status`` shows where it
    is now: approved, scheduled, sending, paused, sent (and how many)."""
    import threading

    from outreach.delivery import pause_issue, resume_issue, send_issue

    run_due(sched_settings, now=KNOWN)
    subscribe(sched_settings, "vantaa", 3)
    run_due(sched_settings, now=FIRE + timedelta(minutes=5))
    engine = get_engine(sched_settings)

    def line(lang: str = "en") -> str:
        lines = status(sched_settings, now=FIRE + timedelta(minutes=6)).lines(lang)
        return next(x for x in lines if x.startswith("  vantaa-news:"))

    def last() -> str:
        return line().split("; last ", 1)[1]

    with session_scope(engine) as session:
        issue = session.scalars(
            select(Issue).join(Issue.campaign).where(Issue.campaign.has(slug="vantaa-news"))
        ).one()
        n = issue.id
    at = "Tue 1.12.2026 at 9:00 ok"
    assert last() == f"{at}: issue #{n} built; waiting for approval"
    with session_scope(engine) as session:
        issues_stage.approve_issue(session, n, by="viestintä", now=FIRE + timedelta(minutes=30))
    assert last() == f"{at}: issue #{n} built; approved; sent at the next send check"
    with session_scope(engine) as session:
        issues_stage.schedule_send(
            session,
            session.get(Issue, n),
            FIRE + timedelta(hours=3),
            by="viestintä",
            now=FIRE + timedelta(minutes=31),
        )
    assert last() == f"{at}: issue #{n} built; approved; to be sent Tue 1.12.2026 at 12:00"
    assert line("fi").endswith("numero 2 koottu; hyväksytty; lähetetään ti 1.12.2026 klo 12.00")
    stop = threading.Event()
    stop.set()  # the outbox written, the issue sending, nothing sent yet
    send_issue(sched_settings, load_config(sched_settings), n, stop=stop)
    counts_line = f"issue #{n}: sent 0 of 3, failed 0, skipped 0, in progress 3"
    assert last() == f"{at}: issue #{n} built; {counts_line}"
    with session_scope(engine) as session:
        pause_issue(session, n)
    assert last() == f"{at}: issue #{n} built; paused; {counts_line}"
    assert line("sv").endswith(
        "pausad; nummer 2: skickade 0 av 3, misslyckade 0, överhoppade 0, pågår 3"
    )
    with session_scope(engine) as session:
        resume_issue(session, n)
    run_due(sched_settings, now=FIRE + timedelta(minutes=40))
    assert counts(sched_settings) == {"sent": 3}
    sent = f"issue #{n}: sent 3 of 3, failed 0, skipped 0, in progress 0"
    assert last() == f"{at}: issue #{n} built; {sent}"


def test_a_newsletter_with_nothing_new_says_so_in_the_readers_language(
    sched_settings: Settings,
) -> None:
    """The run's line is the reader's language through and through: the build's own
    reason ("no new items, so no issue (when_empty: skip)") is a log line in English."""
    folder = sched_settings.campaigns_path
    only_campaign(folder, "none")
    (folder / "lists").mkdir(exist_ok=True)
    (folder / "lists" / "empty.yaml").write_text("items: []\n")
    (folder / "vantaa-letter.yaml").write_text(
        "slug: vantaa-letter\nkind: newsletter\ncity: vantaa\nlanguages: [fi, sv]\n"
        "title: {fi: Kirje, sv: Brev}\nschedule: {day: '1st tue', hour: 9}\n"
        "subject: {fi: Kirje, sv: Brev}\naudience: {topics: [climate]}\n"
        "sections:\n  - {id: links, kind: links, title: {fi: Linkit, sv: Länkar},\n"
        "     sources: [{type: file, path: lists/empty.yaml}]}\n"
    )
    run_due(sched_settings, now=KNOWN)
    ran = [o for o in run_due(sched_settings, now=FIRE + timedelta(minutes=5))
           if o.name == "vantaa-letter"]  # fmt: skip
    assert [o.status for o in ran] == ["empty"]
    assert ran[0].lines("sv") == [
        "vantaa-letter (tis 1.12.2026 kl. 9.00): tom: inget nummer sammanställdes: inget nytt"
    ]
    assert issue_rows(sched_settings) == []
