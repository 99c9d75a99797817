"""Story moderation: the queue, edit, approve, reject with a mailed reason, feature,
and the editors' hourly digest of new stories (the scheduler's send pass)."""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, sync
from outreach.delivery import story_digests
from outreach.delivery.backends import memory
from outreach.models import (
    AuditEvent,
    ContentItem,
    IssueItem,
    IssueStatus,
    SourceState,
    StaffUser,
    Story,
    StoryImage,
    StoryStatus,
)
from outreach.scheduler import StagePipeline
from outreach.settings import Settings
from outreach.sources import feature_again
from outreach.staff import moderation
from outreach.staff import workflow as flow
from tests.staff import test_workflow as wf
from tests.staff.support import csrf_of, make_account, make_city_issue, make_story
from tests.staff.test_workflow import EDITOR, signed_in
from tests.web.conftest import TestClient

# the workflow tests' fixtures: Vantaa with approvers and four eyes, the memory outbox
_clean_outbox = wf._clean_outbox
app = wf.app
config = wf.config
settings = wf.settings

ED = flow.Actor(EDITOR, "127.0.0.1")


@pytest.fixture
def cities(engine: Engine, config: Config) -> None:
    with Session(engine) as s:
        sync(s, config)
        s.commit()


def story(engine: Engine, city: str = "vantaa", **kw: object) -> int:
    with Session(engine) as s:
        made = make_story(s, city, **kw)  # type: ignore[arg-type]
        s.commit()
        return made.id


def mails() -> list[tuple[str, str, str]]:
    found = []
    for m in memory.outbox:
        msg = message_from_bytes(m.message.as_bytes(), policy=default)
        body = msg.get_body(("plain",))
        found.append((m.recipients[0], str(msg["Subject"]), body.get_content() if body else ""))
    return found


def test_the_queue_shows_waiting_stories_first_and_only_the_citys(
    engine: Engine, cities: None
) -> None:
    first, kerava = story(engine, title="Eka"), story(engine, "kerava", title="Keravan")
    second = story(engine, title="Toka")
    with Session(engine) as s:
        decided = s.get(Story, first)
        assert decided is not None
        moderation.approve(s, decided, ED)
        s.commit()
        assert [x.id for x in moderation.queue(s, "vantaa")] == [second, first]
        assert [x.id for x in moderation.queue(s, "vantaa", "approved")] == [first]
        assert moderation.story_of(s, "vantaa", kerava) is None
        shown = moderation.view(decided).html
        assert "<strong>aurinkopaneelit</strong>" in shown and "<script" not in shown


def test_approve_needs_consent_and_every_decision_is_audited(engine: Engine, cities: None) -> None:
    sid = story(engine, consent=False)
    with Session(engine) as s:
        item = s.get(Story, sid)
        assert item is not None
        with pytest.raises(flow.Refused, match="no_consent"):
            moderation.approve(s, item, ED)
        item.consent_to_publish = True
        moderation.approve(s, item, ED, datetime(2026, 12, 1, 9, tzinfo=UTC))
        assert item.status == StoryStatus.APPROVED and item.decided_by == EDITOR
        moderation.feature(s, item, True, ED)
        assert item.featured and item.issue_id is None
        moderation.edit(s, item, ED, company="Aurinko Oy", title="Uusi otsikko",
                        body=item.body, link="https://aurinko.fi")  # fmt: skip
        for link in ("javascript:x", "http://aurinko.fi"):
            with pytest.raises(flow.Refused, match="bad_url"):
                moderation.edit(s, item, ED, company="A", title="B", body="C", link=link)
        s.commit()
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["story.approve", "story.feature", "story.edit"]


def test_a_rejection_mails_the_reason_in_the_submitters_language(
    engine: Engine, cities: None, settings: Settings, config: Config
) -> None:
    sid = story(engine, language="sv", title="Solen")
    with Session(engine) as s:
        item = s.get(Story, sid)
        assert item is not None
        with pytest.raises(flow.Refused, match="reason"):
            moderation.reject(s, settings, config, item, "  ", ED)
        assert moderation.reject(s, settings, config, item, "Berättelsen saknar siffror.", ED)
        s.commit()
        assert item.status == StoryStatus.REJECTED
        assert item.rejection_reason == "Berättelsen saknar siffror."
        with pytest.raises(flow.Refused, match="not_approved_story"):
            moderation.feature(s, item, True, ED)
    [(to, subject, body)] = mails()
    assert to == "yhteys@yritys.fi"
    assert subject == "Om er berättelse: Solen"
    assert "Berättelsen saknar siffror." in body and "Vi kan inte publicera den." in body


def in_an_issue(engine: Engine, config: Config, sid: int, period: str, *, sent: bool) -> int:
    """The story's item in a Vantaa issue (its stories section), sent or a draft; its id."""
    with Session(engine) as s:
        issue = make_city_issue(s, config, "vantaa-monthly", period=period)
        source = s.scalar(select(SourceState).where(SourceState.key == "stories-vantaa"))
        if source is None:
            source = SourceState(key="stories-vantaa", type="stories")
            s.add(source)
            s.flush()
        item = ContentItem(source_id=source.id, kind="story", external_id=f"story:{sid}",
                           title="Tarina", fingerprint=f"{sid:064d}")  # fmt: skip
        s.add(item)
        s.flush()
        s.add(IssueItem(issue_id=issue.id, item_id=item.id, section="stories"))
        if sent:
            issue.status = IssueStatus.SENT
            issue.send_started_at = issue.sent_at = datetime(2026, 12, 2, 7, tzinfo=UTC)
        s.commit()
        return issue.id


def test_a_story_that_went_out_is_not_rejected_and_nothing_is_mailed(
    engine: Engine, cities: None, client: TestClient, settings: Settings, config: Config
) -> None:
    sent, held = story(engine, title="Lähtenyt tarina"), story(engine, title="Luonnoksessa")
    with Session(engine) as s:
        for sid in (sent, held):
            moderation.approve(s, s.get(Story, sid), ED)  # type: ignore[arg-type]
        s.commit()
    issue = in_an_issue(engine, config, sent, "2026-11", sent=True)
    in_an_issue(engine, config, held, "2026-12", sent=False)  # a draft's story has not gone out
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    page = client.get(f"/staff/vantaa/stories/{sent}?lang=fi")
    answer = client.post(f"/staff/vantaa/stories/{sent}/reject?lang=fi",
                         data={"csrf_token": csrf_of(page.text), "reason": "Ei sittenkään."},
                         follow_redirects=True)  # fmt: skip
    assert "Tarina on jo julkaistu numerossa; sitä ei voi enää hylätä." in answer.text
    with Session(engine) as s:
        row = s.get(Story, sent)
        assert row is not None and row.status == StoryStatus.APPROVED
        assert row.rejection_reason is None
        # featuring it again gives its items back, but it still went out
        feature_again(s, sent)
        s.commit()
        assert row.issue_id == issue
        with pytest.raises(flow.Refused, match="story_used"):
            moderation.reject(s, settings, config, row, "Ei sittenkään.", ED)
        draft = s.get(Story, held)
        assert draft is not None
        assert moderation.reject(s, settings, config, draft, "Ei ilmastoaihe.", ED)
        s.commit()
        rejects = select(AuditEvent.action).where(AuditEvent.action.like("story.rej%"))
        actions = list(s.scalars(rejects))
    assert actions == ["story.reject"]
    assert [subject for _to, subject, _body in mails()] == ["Tarinastanne: Luonnoksessa"]


def test_the_console_approves_and_rejects_in_the_citys_queue(
    engine: Engine, cities: None, client: TestClient
) -> None:
    good, bad = story(engine, title="Hyvä tarina"), story(engine, title="Huono tarina")
    other = story(engine, "kerava", title="Keravan tarina")
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    queue = client.get("/staff/vantaa/stories?lang=en")
    assert "Hyvä tarina" in queue.text and "Keravan tarina" not in queue.text
    assert "<td>Finnish</td>" in queue.text and "<td>fi</td>" not in queue.text
    assert client.get(f"/staff/vantaa/stories/{other}?lang=en").status_code == 404
    page = client.get(f"/staff/vantaa/stories/{good}?lang=en")
    assert "<strong>aurinkopaneelit</strong>" in page.text and "<script>" not in page.text
    token = csrf_of(page.text)

    def post(path: str, **data: str) -> str:
        answer = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
        assert answer.status_code == 303
        return str(answer.headers["location"])

    assert "done=approved" in post(f"/staff/vantaa/stories/{good}/approve")
    refused = client.post(f"/staff/vantaa/stories/{bad}/reject",
                          data={"csrf_token": token, "reason": " "})  # fmt: skip
    assert refused.status_code == 422 and 'id="reason-err"' in refused.text
    assert "done=rejected" in post(f"/staff/vantaa/stories/{bad}/reject", reason="Ei ilmastoaihe.")
    assert "done=featured" in post(f"/staff/vantaa/stories/{good}/feature", featured="yes")
    assert client.post(f"/staff/vantaa/stories/{other}/approve",
                       data={"csrf_token": token}).status_code == 404  # fmt: skip
    [(_to, subject, body)] = mails()
    assert subject == "Tarinastanne: Huono tarina" and "Ei ilmastoaihe." in body
    with Session(engine) as s:
        assert s.get(Story, other).status == StoryStatus.SUBMITTED  # type: ignore[union-attr]


def test_editors_get_at_most_one_digest_an_hour(
    engine: Engine, cities: None, settings: Settings, config: Config
) -> None:
    make_account(engine, "toimittaja@vantaa.fi", "editor", "vantaa")
    make_account(engine, "hyvaksyja@vantaa.fi", "approver", "vantaa")
    make_account(engine, "poissa@vantaa.fi", "editor", "vantaa")
    make_account(engine, "toimittaja@kerava.fi", "editor", "kerava")
    with Session(engine) as s:
        gone = s.query(StaffUser).filter_by(email="poissa@vantaa.fi").one()
        gone.disabled_at = datetime(2026, 1, 1, tzinfo=UTC)
        s.commit()
    story(engine, title="Eka")
    story(engine, title="Toka")
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def send_pass(moment: datetime) -> None:  # what the daemon and run-due run
        StagePipeline(settings, config=config, clock=lambda: moment).send_due(threading.Event())

    send_pass(t0)
    got = mails()
    assert sorted(to for to, _, _ in got) == ["hyvaksyja@vantaa.fi", "toimittaja@vantaa.fi"]
    assert got[0][1] == "Uusia yritysten tarinoita: 2"
    assert "Eka" in got[0][2] and "/staff/vantaa/stories" in got[0][2]
    memory.clear()
    send_pass(t0 + timedelta(minutes=5))  # nothing new
    story(engine, title="Kolmas")
    send_pass(t0 + timedelta(minutes=30))  # new, but within the hour
    assert mails() == []
    send_pass(t0 + timedelta(minutes=61))
    got = mails()
    assert len(got) == 2 and got[0][1] == "Uusia yritysten tarinoita: 1"
    assert "Kolmas" in got[0][2] and "Eka" not in got[0][2]
    with Session(engine) as s:
        assert story_digests(s, settings, config, t0 + timedelta(hours=5)) == []


def test_the_queue_shows_an_uploaded_image_before_the_story_is_published(
    engine: Engine, cities: None, client: TestClient
) -> None:
    jpeg = b"\xff\xd8\xff\xe0 a re-encoded picture \xff\xd9"
    waiting, plain = story(engine, title="Kuvallinen"), story(engine, title="Kuvaton")
    with Session(engine) as s:
        row = s.get(Story, waiting)
        assert row is not None
        row.image_alt = "Aurinkopaneelit varaston katolla"
        s.add(StoryImage(story_id=waiting, content_type="image/jpeg", data=jpeg,
                         width=1, height=1, sha256="0" * 64))  # fmt: skip
        s.commit()
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    page = client.get(f"/staff/vantaa/stories/{waiting}?lang=en")
    assert page.status_code == 200
    expected = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert f'src="{expected}"' in page.text
    assert 'alt="Aurinkopaneelit varaston katolla"' in page.text
    assert "data:image" not in client.get(f"/staff/vantaa/stories/{plain}?lang=en").text


def test_a_translation_written_in_the_console_shows_at_once_on_the_public_pages(
    engine: Engine, cities: None, client: TestClient
) -> None:
    sid = story(engine, title="Aurinkoa katolle")
    with Session(engine) as s:
        row = s.get(Story, sid)
        assert row is not None
        row.figures = "120 MWh vuodessa"
        moderation.approve(s, row, ED)
        s.commit()
    public = f"/vantaa/stories/{sid}?lang=sv"
    feed, widget = "/vantaa/stories.rss?lang=sv", "/vantaa/embed/stories?lang=sv"
    before = {path: client.get(path) for path in (public, feed, widget, "/vantaa/stories?lang=sv")}
    assert "Inte översatt" in before[public].text and '<article lang="fi">' in before[public].text
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    page = client.get(f"/staff/vantaa/stories/{sid}?lang=en")
    assert 'name="language" value="sv"' in page.text and 'name="language" value="en"' in page.text
    assert 'name="language" value="fi"' not in page.text  # the story's own language
    token = csrf_of(page.text)

    def translate(**data: str) -> str:
        answer = client.post(
            f"/staff/vantaa/stories/{sid}/translate?lang=en",
            data={"csrf_token": token, **data},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        return str(answer.headers["location"])

    swedish = {"language": "sv", "title": "Sol på taket", "body": "Vi satte **solpaneler**.",
               "figures": "120 MWh per år"}  # fmt: skip
    assert "refused=translation_language" in translate(**{**swedish, "language": "fi"})
    no_text = client.post(f"/staff/vantaa/stories/{sid}/translate?lang=en",
                          data={"csrf_token": token, **swedish, "body": ""})  # fmt: skip
    assert no_text.status_code == 422 and 'id="body-sv-err"' in no_text.text
    assert "done=translated" in translate(**swedish)
    assert "Sol på taket" in client.get(f"/staff/vantaa/stories/{sid}?lang=en").text

    after = client.get(public)
    assert after.status_code == 200
    assert "Sol på taket" in after.text and "<strong>solpaneler</strong>" in after.text
    assert "120 MWh per år" in after.text and "Översatt av staden" in after.text
    assert "Inte översatt" not in after.text and '<article lang="fi">' not in after.text
    for path, old in before.items():  # every cached answer of the city moved on
        fresh = client.get(path, headers={"If-None-Match": old.headers["etag"]})
        assert fresh.status_code == 200, path
        assert fresh.headers["etag"] != old.headers["etag"] and "Sol på taket" in fresh.text
    finnish = client.get(f"/vantaa/stories/{sid}?lang=fi")
    assert "Aurinkoa katolle" in finnish.text
    # an edit of the published story moves the cached answers on as well
    edited = client.post(
        f"/staff/vantaa/stories/{sid}/edit?lang=en",
        data={"csrf_token": token, "company": "Aurinko Oy", "title": "Aurinkoa katolle 2",
              "body": "Asensimme paneelit."},
        follow_redirects=False,
    )  # fmt: skip
    assert "done=edited" in edited.headers["location"]
    again = client.get(f"/vantaa/stories/{sid}?lang=fi")
    assert again.headers["etag"] != finnish.headers["etag"]
    assert "Aurinkoa katolle 2" in again.text

    # figures left out of a translation: the original's, marked with their language
    assert "done=translated" in translate(**{**swedish, "figures": ""})
    shown = client.get(public).text
    assert '<p lang="fi">120 MWh vuodessa</p>' in shown
    assert "done=translated" in translate(language="sv")  # every field empty: removed
    assert "Inte översatt" in client.get(public).text
    with Session(engine) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action.like("story.%trans%"))
                                .order_by(AuditEvent.id)))  # fmt: skip
        row = s.get(Story, sid)
        assert row is not None and row.translations == {}
    assert [e.action for e in events] == ["story.translate", "story.translate", "story.untranslate"]
    assert events[0].detail == {"story": sid, "lang": "sv", "fields": "body,figures,title"}
    assert events[1].detail["fields"] == "figures" and events[0].actor == EDITOR
    assert {e.city for e in events} == {"vantaa"}


def test_translate_keeps_what_it_is_given_and_refuses_the_rest(
    engine: Engine, cities: None
) -> None:
    sid = story(engine, language="sv", title="Solen")
    with Session(engine) as s:
        item = s.get(Story, sid)
        assert item is not None
        with pytest.raises(flow.Refused, match="translation_language"):
            moderation.translate(s, item, ED, "de", title="Sonne", body="Text")
        with pytest.raises(flow.Refused, match="translation_fields"):
            moderation.translate(s, item, ED, "fi", title="x" * 301, body="Teksti")
        with pytest.raises(flow.Refused, match="translation_fields"):
            moderation.translate(s, item, ED, "fi", figures="12 MWh")
        assert moderation.translate(s, item, ED, "fi", title="  Aurinko \n katolla ",
                                    body="Teksti\r\nrivillä", image_alt="Kuva")  # fmt: skip
        assert item.translations == {
            "fi": {"title": "Aurinko katolla", "body": "Teksti\nrivillä", "image_alt": "Kuva"}
        }
        assert not moderation.translate(s, item, ED, "fi", title="Aurinko katolla",
                                        body="Teksti\nrivillä", image_alt="Kuva")  # fmt: skip
        s.commit()
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_a_storys_status_agrees_with_the_word_story_in_swedish(
    engine: Engine, cities: None, client: TestClient
) -> None:
    """A story ("en berättelse") is godkänd, where an issue ("ett nummer") is godkänt."""
    sid = story(engine, title="Hyvä tarina")
    with Session(engine) as s:
        moderation.approve(s, s.get(Story, sid), ED)  # type: ignore[arg-type]
        s.commit()
    signed_in(engine, client, EDITOR, "editor", "vantaa")
    queue = client.get("/staff/vantaa/stories?lang=sv").text
    assert "<td>godkänd</td>" in queue and ">godkänd</a>" in queue and "godkänt" not in queue
    page = client.get(f"/staff/vantaa/stories/{sid}?lang=sv").text
    assert "<dd>godkänd" in page and "godkänt" not in page
    assert "<td>approved</td>" in client.get("/staff/vantaa/stories?lang=en").text
    assert "<td>hyväksytty</td>" in client.get("/staff/vantaa/stories?lang=fi").text
