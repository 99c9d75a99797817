"""Links staff add to a draft count like the built ones: the introduction's and a
manual item's. Each goes through ``/l/<id>`` in the e-mail, resolves to exactly
the URL written, and the archive's web version keeps them direct."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.issues import editing, register_links
from outreach.linkids import LinkSigner
from outreach.models import IssueLink
from outreach.render import render_issue, render_web_version
from outreach.settings import Settings
from outreach.stats import resolve
from tests.staff.support import make_city_issue

INTRO_URL = "https://www.vantaa.fi/fi/ilmastoviikko"
MANUAL_URL = "https://www.vantaa.fi/fi/energiaklinikka"
NEWS_URL = "https://www.vantaa.fi/fi/uutinen"


def counted_ids(text: str) -> list[str]:
    return re.findall(r"https://outreach\.example\.fi/l/([A-Za-z0-9_-]+-[A-Za-z0-9_-]{16})", text)


def test_the_introduction_and_a_manual_item_count_in_the_email_only(
    session: Session, settings: Settings
) -> None:
    config = load(settings.campaigns_path, settings.templates_path)
    issue = make_city_issue(session, config, "vantaa-monthly", url=NEWS_URL)
    register_links(session, issue, "small+medium")  # as a build numbers them
    section = str(issue.snapshot["languages"]["fi"]["sections"][0]["id"])
    editing.set_intro(session, issue, "fi", f"Tule [ilmastoviikolle]({INTRO_URL})!", by="maija")
    item = editing.add_item(session, issue, section, "Energiaklinikka", "Maksuton neuvonta.",
                            MANUAL_URL, by="maija")  # fmt: skip
    assert item < 0  # a manual item: no content item behind it
    session.commit()

    mail = render_issue(settings, config, issue, "fi")
    assert INTRO_URL not in mail.html + mail.text
    assert MANUAL_URL not in mail.html + mail.text and NEWS_URL not in mail.html + mail.text
    signer = LinkSigner(settings.secret())
    leads_to = set()
    for found in counted_ids(mail.html):
        link = resolve(session, signer, found)
        assert link is not None, found
        leads_to.add(link.url)
        assert found in mail.text  # the plain-text part counts the same links
    assert leads_to == {INTRO_URL, MANUAL_URL, NEWS_URL}

    rows = session.execute(
        select(IssueLink.section, IssueLink.item_id, IssueLink.variant, IssueLink.url).where(
            IssueLink.issue_id == issue.id, IssueLink.lang == "fi"
        )
    ).all()
    by_url = {r.url: r for r in rows}
    assert by_url[INTRO_URL].section == "intro" and by_url[INTRO_URL].item_id is None
    assert by_url[MANUAL_URL].item_id is None and by_url[MANUAL_URL].section == section
    assert by_url[NEWS_URL].item_id == 1
    assert {r.variant for r in rows} == {"small+medium"}, "an edit keeps the links' variant"

    web = render_web_version(settings, config, issue, "fi")
    assert INTRO_URL in web and MANUAL_URL in web and "/l/" not in web


def test_a_link_taken_out_of_the_introduction_no_longer_resolves(
    session: Session, settings: Settings
) -> None:
    config = load(settings.campaigns_path, settings.templates_path)
    issue = make_city_issue(session, config, "vantaa-monthly", url=NEWS_URL)
    register_links(session, issue)
    editing.set_intro(session, issue, "fi", f"Katso [tästä]({INTRO_URL}).", by="maija")
    session.commit()
    before = counted_ids(render_issue(settings, config, issue, "fi").html)
    editing.set_intro(session, issue, "fi", "Ei linkkiä enää.", by="maija")
    session.commit()
    signer = LinkSigner(settings.secret())
    urls = {link.url for f in before if (link := resolve(session, signer, f)) is not None}
    assert INTRO_URL not in urls and NEWS_URL in urls
    assert not issue.snapshot["languages"]["fi"].get("intro_links")
