"""``outreach stories approve|reject``: the console's moderation, from a terminal.

Both call the same stage functions as the console's story queue: approving
needs consent, rejecting needs a reason, which is mailed to the sender in the
story's language, and every decision is in the audit log.
"""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from outreach.cli import main
from outreach.delivery.backends import memory
from outreach.models import AuditEvent, Story, StoryStatus
from tests.test_cli import invoke
from tests.test_cli import run as run  # the fixture

STORY = """---
company: Konepaja Ek Ab
title: Vi värmer verkstaden med spillvärme
language: sv
consent: {consent}
contact_email: info@konepaja-ek.example.fi
---
Vi tog tillvara spillvärmen från kompressorerna.
"""


def add_story(run: CliRunner, tmp_path: Path, consent: bool) -> int:
    path = tmp_path / f"story-{consent}.md"
    path.write_text(STORY.format(consent="true" if consent else "false"), encoding="utf-8")
    added = invoke(run, "stories", "add", str(path), "--city", "vantaa")
    assert added.exit_code == 0, added.output
    with Session(create_engine(f"sqlite:///{Path.cwd()}/var/outreach.db")) as s:
        return int(s.scalars(select(Story.id).order_by(Story.id.desc())).first() or 0)


@pytest.fixture
def stories(run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # an absolute address: the engine of a relative one outlives the test's directory
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{tmp_path}/var/outreach.db")
    (tmp_path / "var").mkdir(exist_ok=True)
    assert invoke(run, "db", "upgrade").exit_code == 0
    memory.clear()
    return run


def db() -> Session:
    return Session(create_engine(f"sqlite:///{Path.cwd()}/var/outreach.db"))


def test_rejecting_needs_a_reason_and_mails_it_to_the_sender(
    stories: CliRunner, tmp_path: Path
) -> None:
    sid = add_story(stories, tmp_path, consent=True)
    without = stories.invoke(main, ["stories", "reject", str(sid)])
    assert without.exit_code == 2 and "--reason" in without.output
    blank = stories.invoke(main, ["stories", "reject", str(sid), "--reason", "  "])
    assert blank.exit_code == 1
    assert blank.output.strip().splitlines() == [
        f"Error: story {sid}: give the reason for rejecting with --reason, at most 1,000 characters"
    ]
    assert not memory.outbox

    done = invoke(stories, "stories", "reject", str(sid), "--reason", "Bilden saknas.",
                  "--by", "maija@vantaa.fi")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "the reason was mailed to the sender" in done.output
    (mail,) = memory.outbox
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert mail.recipients == ["info@konepaja-ek.example.fi"]
    body = msg.get_body(("plain",))
    assert body is not None and "Bilden saknas." in body.get_content()
    with db() as s:
        story = s.get(Story, sid)
        assert story is not None and story.status == StoryStatus.REJECTED
        assert story.rejection_reason == "Bilden saknas." and story.decided_by == "maija@vantaa.fi"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.actor == "maija@vantaa.fi"))
        assert list(actions) == ["story.reject"]


def test_approving_needs_consent_and_is_audited(stories: CliRunner, tmp_path: Path) -> None:
    refused = add_story(stories, tmp_path, consent=False)
    no = stories.invoke(main, ["stories", "approve", str(refused)])
    assert no.exit_code == 1
    assert "get the consent before approving" in no.output and "Traceback" not in no.output
    sid = add_story(stories, tmp_path, consent=True)
    yes = invoke(stories, "stories", "approve", str(sid), "--by", "maija@vantaa.fi")
    assert yes.exit_code == 0 and f"Story {sid} is approved" in yes.output
    with db() as s:
        story = s.get(Story, sid)
        assert story is not None and story.status == StoryStatus.APPROVED
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.actor == "maija@vantaa.fi")) == (
            "story.approve"
        )
    missing = stories.invoke(main, ["stories", "approve", "99999"])
    assert missing.exit_code == 1 and "no story with id 99999" in missing.output


def test_the_refusal_is_in_the_users_language(
    stories: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = add_story(stories, tmp_path, consent=False)
    monkeypatch.setenv("LANG", "fi_FI.UTF-8")
    no = stories.invoke(main, ["stories", "approve", str(sid)])
    assert no.exit_code == 1
    assert f"tarina {sid}: yritys ei ole antanut julkaisulupaa" in no.output


def test_a_story_that_went_out_in_an_issue_is_not_rejected(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0  # sends each city's issue with its stories
    with db() as s:
        sid = s.scalar(select(Story.id).where(Story.status == StoryStatus.APPROVED))
        assert sid is not None
    mailed = len(memory.outbox)
    refused = run.invoke(main, ["stories", "reject", str(sid), "--reason", "testi"])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"Error: story {sid}: the story already went out in an issue; it can no longer be rejected"
    ]
    assert len(memory.outbox) == mailed
    with db() as s:
        story = s.get(Story, sid)
        assert story is not None and story.status == StoryStatus.APPROVED
        assert story.rejection_reason is None
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "story.reject")) is None
