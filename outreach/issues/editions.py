"""Which language versions of an issue go out, and to whom (``when_empty`` per language).

A newsletter is built per language. A language whose sections came out empty
(e.g. Swedish in a month with only Finnish news, where the news section says
``fallback: false``) does not go out as a greeting and a footer. The
campaign's ``when_empty`` decides, for each language on its own:

* ``skip``: that language is skipped this time; its readers get nothing (they
  are left out of the audience, never sent another language instead);
* ``fallback``: its readers get the ``fallback_language`` version instead,
  when that one has content (else the language is skipped);
* ``send``: it goes out as it is, empty sections and all.

The decision is kept in the snapshot as ``send_as``: for every campaign
language, the version its readers get, or None when they get nothing. An
issue built before this existed has no ``send_as``: every language is its own.

Who gets the issue is kept in the snapshot too, as ``audience`` (the
campaign's topics, size classes, industries and languages when it was
built): :func:`fixed_audience` is what the send reads, so a later change to
the campaign (in its file or in the console) never changes the recipients
of an issue that was approved, is being sent or is resumed after a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outreach.campaigns import AnnouncementCampaign, Audience, NewsletterCampaign


def audience_snapshot(campaign: NewsletterCampaign | AnnouncementCampaign) -> dict[str, Any]:
    """The snapshot's ``audience``: the campaign's audience and languages as built."""
    return {**campaign.audience.model_dump(mode="json"), "languages": list(campaign.languages)}


def fixed_audience(
    snapshot: Mapping[str, Any], campaign: NewsletterCampaign | AnnouncementCampaign
) -> tuple[Audience, list[str]]:
    """Who the issue goes to: (audience, languages, the first the default) as the
    snapshot fixed them; the campaign's for an issue built before snapshots kept them."""
    kept = snapshot.get("audience")
    built = [str(lang) for lang in (snapshot.get("languages") or {})]
    if not isinstance(kept, Mapping):
        return campaign.audience, built or list(campaign.languages)
    languages = [str(lang) for lang in kept.get("languages") or built or campaign.languages]
    fields = {k: v for k, v in kept.items() if k != "languages"}
    return Audience.model_validate(fields), languages


def item_counts(sections: Mapping[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Entries per language."""
    return {lang: sum(len(s["entries"]) for s in secs) for lang, secs in sections.items()}


def plan(
    campaign: NewsletterCampaign, sections: Mapping[str, list[dict[str, Any]]]
) -> dict[str, str | None]:
    """``send_as`` for a newsletter's languages (see the module docstring)."""
    counts = item_counts(sections)
    fallback = campaign.fallback_language
    send_as: dict[str, str | None] = {}
    for lang in campaign.languages:
        if counts.get(lang) or campaign.when_empty == "send":
            send_as[lang] = lang
        elif (
            campaign.when_empty == "fallback"
            and fallback is not None
            and fallback != lang
            and counts.get(fallback)
        ):
            send_as[lang] = fallback
        else:
            send_as[lang] = None
    return send_as


def send_as(snapshot: Mapping[str, Any]) -> dict[str, str | None]:
    """The snapshot's ``send_as``; every language as itself for older snapshots."""
    stored = snapshot.get("send_as")
    languages = list((snapshot.get("languages") or {}).keys())
    if not isinstance(stored, dict):
        return {lang: lang for lang in languages}
    return {lang: stored.get(lang, lang) for lang in languages}


def not_sent_as_itself(snapshot: Mapping[str, Any]) -> dict[str, str | None]:
    """Languages skipped (None) or sent as another language's version."""
    return {lang: to for lang, to in send_as(snapshot).items() if to != lang}


def summary(snapshot: Mapping[str, Any]) -> dict[str, list[tuple[str, int]]]:
    """Per language: (section title, number of entries) of every section."""
    out: dict[str, list[tuple[str, int]]] = {}
    for lang, data in (snapshot.get("languages") or {}).items():
        out[lang] = [
            (str(s.get("title") or s.get("id")), len(s.get("entries") or []))
            for s in data.get("sections") or []
        ]
    return out
