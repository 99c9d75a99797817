"""Where the check runs: approval blocked and overridden, automatic approval refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import Config, load
from outreach.checks.flow import approve_checked, build_checked
from outreach.delivery.backends import memory
from outreach.delivery.held import tell_approvers
from outreach.models import IssueCheck, IssueEvent, IssueStatus
from outreach.settings import Settings
from tests.checks.conftest import NOW, Servers, entry, make_issue
from tests.conftest import ROOT


def test_errors_block_approval_until_overridden_with_a_reason(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    issue = make_issue(
        session,
        config,
        {"fi": [entry("Poistettu", servers.site + "missing")], "sv": [entry("Nyhet")]},
    )
    blocked = approve_checked(session, check_settings, config, issue, by="maija", now=NOW)
    assert blocked.issue is None and blocked.rerun
    assert [f.check for f in blocked.report.errors] == ["links.broken"]
    assert issue.status == IssueStatus.DRAFT
    stored = session.scalar(select(IssueCheck).where(IssueCheck.issue_id == issue.id))
    assert stored is not None and stored.errors == 1

    # within the hour the stored report is used; an hour later it is run again
    again = approve_checked(
        session, check_settings, config, issue, by="maija", now=NOW + timedelta(minutes=59)
    )
    assert again.issue is None and not again.rerun
    later = approve_checked(
        session, check_settings, config, issue, by="maija", now=NOW + timedelta(minutes=61)
    )
    assert later.issue is None and later.rerun

    with pytest.raises(Exception, match="--override needs a reason"):
        approve_checked(session, check_settings, config, issue, by="maija", override="  ")
    done = approve_checked(
        session,
        check_settings,
        config,
        issue,
        by="maija",
        override="the page is back at noon",
        now=NOW + timedelta(minutes=62),
    )
    assert done.issue is issue and issue.status == IssueStatus.APPROVED
    events = session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue.id)).all()
    assert [(e.action, e.actor, e.detail) for e in events] == [
        ("override", "maija", "the page is back at noon [links.broken]"),
        ("approved", "maija", None),
    ]


def test_a_clean_issue_is_approved_without_override(
    session: Session, check_settings: Settings, config: Config, servers: Servers
) -> None:
    issue = make_issue(
        session,
        config,
        {"fi": [entry("Uutinen", servers.site + "u")], "sv": [entry("Nyhet", language="sv")]},
    )
    done = approve_checked(session, check_settings, config, issue, by="maija", now=NOW)
    assert done.issue is issue and issue.status == IssueStatus.APPROVED


def _auto_campaign(folder: Path, body: str) -> Path:
    folder.mkdir()
    cities = yaml.safe_load((ROOT / "campaigns" / "cities.yaml").read_text())
    (folder / "cities.yaml").write_text(yaml.safe_dump(cities, allow_unicode=True))
    (folder / "announcements").mkdir()
    (folder / "announcements" / "tiedote.fi.md").write_text(body)
    campaign = {
        "slug": "vantaa-tiedote",
        "kind": "announcement",
        "city": "vantaa",
        "languages": ["fi"],
        "approval": "auto",
        "send_at": "2026-12-01T09:00:00+02:00",
        "subject": {"fi": "Vantaan ilmastotiedote"},
        "body": {"fi": "announcements/tiedote.fi.md"},
        "audience": {"topics": ["climate"]},
    }
    (folder / "vantaa-tiedote.yaml").write_text(yaml.safe_dump(campaign, allow_unicode=True))
    return folder


def _config(settings: Settings, site: str) -> Config:
    config = load(settings.campaigns_path, settings.templates_path)
    city = config.cities["vantaa"]
    footer = city.footer.model_copy(update={"website": site})
    config.cities["vantaa"] = city.model_copy(
        update={"footer": footer, "approvers": ["viestinta@vantaa.fi"]}
    )
    return config


def test_auto_approval_refuses_an_issue_with_errors_and_tells_the_approvers(
    session: Session, check_settings: Settings, servers: Servers, tmp_path: Path
) -> None:
    body = f"# Tiedote\n\nLue [koko tiedote]({servers.site}missing).\n"
    folder = _auto_campaign(tmp_path / "campaigns", body)
    settings = check_settings.model_copy(update={"campaigns_dir": folder})
    config = _config(settings, servers.site)
    memory.clear()

    checked = build_checked(session, settings, config, "vantaa-tiedote", now=NOW)
    assert checked.built.issue is not None
    assert checked.built.issue.status == IssueStatus.DRAFT  # not approved
    assert checked.report is not None
    assert [f.check for f in checked.report.errors] == ["links.broken"]
    assert checked.refused is not None
    assert tell_approvers(settings, config, [checked.refused]) == 1

    [mail] = memory.outbox
    assert mail.recipients == ["viestinta@vantaa.fi"]
    assert mail.message["Subject"] == (
        "Numeroa ei hyväksytty automaattisesti: vantaa-tiedote/2026-12-01"
    )
    text = mail.message.get_body(("plain",)).get_content()
    assert "Suomenkielinen versio: Linkki ei toimi: Palvelin vastasi HTTP-tilalla 404." in text
    assert f"outreach issue check {checked.built.issue.id}" in text


def test_auto_approval_approves_an_issue_without_errors(
    session: Session, check_settings: Settings, servers: Servers, tmp_path: Path
) -> None:
    body = f"# Tiedote\n\nLue [koko tiedote]({servers.site}tiedote).\n"
    folder = _auto_campaign(tmp_path / "campaigns", body)
    settings = check_settings.model_copy(update={"campaigns_dir": folder})
    config = _config(settings, servers.site)
    checked = build_checked(session, settings, config, "vantaa-tiedote", now=NOW)
    assert checked.refused is None and checked.report is not None
    assert checked.built.issue is not None
    assert checked.built.issue.status == IssueStatus.APPROVED
