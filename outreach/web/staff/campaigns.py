"""The console's campaign pages: the list, the editor, try a source, preview Markdown.

A campaign file shows read-only ("managed in files"); a console campaign opens
in the editor (:mod:`outreach.web.staff.campaign_editor`). The editor posts its
fields with ``action=check`` (show the next runs, the audience count, the
Markdown preview and every error, save nothing), ``action=save``, or one of its
buttons' ``op``: add, remove or move a section or a source
(:func:`outreach.campaigns.form_sections.apply_op`) or ``try:<section>.<source>``
("try this source"); an ``op`` shows the editor again with what was typed, saving
nothing, so every button works without script. The work is in
``outreach.staff.authoring`` and ``outreach.campaigns``; a campaign of another
city is not found.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from outreach.campaigns import Audience, Config, DocumentError, console, form, form_sections
from outreach.errors import OutreachError
from outreach.issues import build_issue
from outreach.l10n import gettext_for
from outreach.scheduler import next_runs
from outreach.sources import body_html, fetch_sources
from outreach.staff import Current, Permission, audit, authoring, campaign_cities, left_out
from outreach.web.common import check_csrf, state
from outreach.web.staff.campaign_editor import KINDS, TrialShown, editor_page
from outreach.web.staff.guard import Require, not_found, now
from outreach.web.staff.view import client, lang_of, page

router = APIRouter()
Viewer = Annotated[Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[Current, Depends(Require(Permission.EDIT))]
FormStr = Annotated[str | None, Form()]
BASE = "/staff/{city}/campaigns"
#: The editor's line with the audience's count (here and in the page).
COUNT_TEXT = "Confirmed subscribers this audience reaches now: {n}"


def fresh_config(request: Request) -> Config:
    """The app's config, reloaded when a console campaign changed (here or elsewhere)."""
    st = state(request)
    with st.session() as session:
        current = console.version(session)
    if getattr(st, "console_version", None) != current:
        from outreach.web.app import with_console

        base = Config(st.config.root, st.config.topics, st.config.cities, {})
        files = {k: v for k, v in st.config.campaigns.items() if k not in st.config.console}
        base.campaigns.update(files)
        base.bodies.update({k: v for k, v in st.config.bodies.items() if k[0] in files})
        base.hashes.update({k: v for k, v in st.config.hashes.items() if k in files})
        base.broken.update({k: v for k, v in st.config.broken.items() if "(console)" not in k})
        st.config = with_console(st.settings, base)
        setattr(st, "console_version", current)  # noqa: B010 (not a WebState field)
    return st.config


def _who(request: Request, current: Current) -> authoring.Who:
    return authoring.Who(current.user.email, client(request))


def _templates_dir(request: Request) -> Any:
    path = state(request).settings.templates_path
    return path if path.is_dir() else None


@router.get(BASE)
def campaign_list(request: Request, city: str, current: Viewer) -> Response:
    config = fresh_config(request)
    with state(request).session() as session:
        states = {r.slug: r.state for r in console.rows(session, city)}
        owners = campaign_cities(session)
    rows = [
        {"slug": slug, "kind": camp.kind, "origin": "console" if slug in config.console else "file",
         "state": states.get(slug, "active"), "languages": list(camp.languages)}
        for slug, camp in sorted(config.campaigns.items()) if camp.city == city
    ]  # fmt: skip
    context = {
        "rows": rows,
        "broken": left_out(config, city, owners),
        "may_edit": current.principal.can(Permission.EDIT, city),
    }
    return page(request, "staff/campaigns.html", context, current=current, city=city)


def _editor(
    request: Request,
    current: Current,
    city: str,
    document: dict[str, Any],
    texts: dict[str, str] | None,
    *,
    slug: str | None,
    **shown: Any,
) -> HTMLResponse:
    config = fresh_config(request)
    return editor_page(request, current, config, city, document, texts, slug=slug, **shown)


@router.get(BASE + "/new")
def campaign_new(
    request: Request, city: str, current: Editor, kind: str = "newsletter"
) -> Response:
    cfg = state(request).config.cities[city]
    document: dict[str, Any] = {
        "kind": kind if kind in KINDS else "newsletter", "city": city,
        "languages": list(cfg.languages), "schedule": {"day": "1st tue", "hour": 9},
    }  # fmt: skip
    if document["kind"] == "newsletter":
        document["sections"] = [form_sections.new_section()]
    return _editor(
        request, current, city, document, {} if kind == "announcement" else None, slug=None
    )


def _posted(request: Request, data: FormData, base: dict[str, Any], city: str) -> Any:
    fields: dict[str, Any] = {k: data.getlist(k) for k in data.keys()}  # noqa: SIM118
    for key, values in list(fields.items()):
        if key not in ("languages", "topics", "size_classes"):
            fields[key] = values[-1] if values else ""
    return form.from_form(base, fields, city=city)


async def _submit(request: Request, city: str, current: Current, slug: str | None) -> Response:
    data = await request.form()
    check_csrf(request, str(data.get("csrf_token") or ""))
    st = state(request)
    config = fresh_config(request)
    base: dict[str, Any] = {}
    if slug is not None:
        with st.session() as session:
            found = console.row(session, slug, city)
            if found is None:
                raise not_found()
            base = dict(found.document or {})
    document, texts, errors = _posted(request, data, base, city)
    op = str(data.get("op") or "")
    if op.startswith("try:"):
        trial = _try(request, config, city, document, op.removeprefix("try:"))
        return _editor(request, current, city, document, texts, slug=slug, trial=trial)
    if op:
        changed = form_sections.apply_op(list(document.get("sections") or []), op)
        focus = None
        if changed is not None:
            document["sections"], focus = changed
        return _editor(request, current, city, document, texts, slug=slug, focus=focus)
    if data.get("action") != "save" or errors:
        with st.session() as session:  # every error Save would find, at once; nothing written
            errors = authoring.check_campaign(
                session, config, document, city=city, texts=texts,
                templates_dir=_templates_dir(request), create=slug is None, form_errors=errors,
            )  # fmt: skip
        status = 422 if errors and data.get("action") == "save" else 200
        return _editor(
            request,
            current,
            city,
            document,
            texts,
            slug=slug,
            errors=errors,
            checked=True,
            status=status,
        )
    try:
        with st.session() as session:
            saved = authoring.save_campaign(
                session, config, document, _who(request, current), city=city, texts=texts,
                templates_dir=_templates_dir(request), create=slug is None,
            )  # fmt: skip
            session.commit()
            new_slug = saved.row.slug
    except DocumentError as exc:
        return _editor(
            request,
            current,
            city,
            document,
            texts,
            slug=slug,
            errors=exc.lines,
            checked=True,
            status=422,
        )
    fresh_config(request)
    query = urlencode({"lang": lang_of(request), "done": "saved"})
    return RedirectResponse(f"/staff/{city}/campaigns/{new_slug}?{query}", status_code=303)


@router.post(BASE + "/new")
async def campaign_create(request: Request, city: str, current: Editor) -> Response:
    return await _submit(request, city, current, None)


@router.post(BASE + "/markdown")
def markdown_preview(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None, text: FormStr = None
) -> Response:
    """The sanitised HTML of a Markdown body (the editor's live preview)."""
    check_csrf(request, csrf_token)
    html = body_html((text or "")[:100_000])
    return HTMLResponse(
        html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    )


@router.post(BASE + "/audience")
async def audience_preview(request: Request, city: str, current: Editor) -> Response:
    """How many confirmed subscribers the editor's audience reaches now (the count's live
    update: the editor's script posts the form here as its audience fields change)."""
    data = await request.form()
    check_csrf(request, str(data.get("csrf_token") or ""))
    document, _texts, _errors = _posted(request, data, {}, city)
    st = state(request)
    try:
        audience = Audience.model_validate(document.get("audience") or {})
        with st.session() as session:
            count = authoring.audience_count(
                session, st.settings, city, audience, list(document.get("languages") or [])
            )
    except (ValueError, OutreachError):
        return Response(status_code=422, headers={"Cache-Control": "no-store"})
    text = gettext_for(lang_of(request), "web", COUNT_TEXT).format(n=count)
    return PlainTextResponse(text, headers={"Cache-Control": "no-store"})


def _try(
    request: Request, config: Config, city: str, document: dict[str, Any], at: str
) -> TrialShown:
    """Try the source at ``at`` (``section.source``) of the form as posted (saved or
    not): fetched through the safe fetcher, the section's filters applied."""
    st = state(request)
    i_text, _, j_text = at.partition(".")
    i, j = (int(i_text), int(j_text)) if i_text.isdigit() and j_text.isdigit() else (-1, -1)
    sections = document.get("sections") or []
    if not 0 <= i < len(sections) or not isinstance(sections[i], dict):
        return TrialShown(i, j, None, f"sections.{i}: the section has no such source")
    try:
        with st.session() as session:
            view = authoring.try_section_source(
                st.settings, config, city, sections[i], j, session=session, now=now(request)
            )
    except OutreachError as exc:  # mostly ``key.path: what``, the path inside the section
        line = exc.text(lang_of(request)).splitlines()[0]
        where = f"sections.{i}." if re.match(r"^[A-Za-z0-9_.]+: ", line) else ""
        return TrialShown(i, j, None, where + line)
    return TrialShown(i, j, view, None)


@router.get(BASE + "/{slug}")
def campaign_view(request: Request, city: str, slug: str, current: Viewer) -> Response:
    config = fresh_config(request)
    camp = config.campaigns.get(slug)
    st = state(request)
    if slug in config.console or camp is None:
        with st.session() as session:
            found = console.row(session, slug, city)
            if found is None:
                raise not_found()
            document, texts = dict(found.document or {}), console.texts_of(found)
        return _editor(request, current, city, document, texts, slug=slug)
    if camp.city != city:
        raise not_found()
    cfg = config.cities[city]
    text = yaml.safe_dump(
        camp.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True
    )
    context = {
        "slug": slug,
        "yaml": text,
        "runs": next_runs(camp, cfg.timezone, now(request)),
        "tz": cfg.timezone,
    }
    return page(request, "staff/campaign_file.html", context, current=current, city=city)


@router.post(BASE + "/{slug}")
async def campaign_update(request: Request, city: str, slug: str, current: Editor) -> Response:
    return await _submit(request, city, current, slug)


@router.post(BASE + "/{slug}/state")
def campaign_state(
    request: Request, city: str, slug: str, current: Editor, csrf_token: FormStr = None,
    state_to: Annotated[str, Form(alias="state")] = "",
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    if state_to not in console.STATES:
        raise not_found()
    with state(request).session() as session:
        if console.row(session, slug, city) is None:
            raise not_found()
        authoring.campaign_state(session, slug, state_to, _who(request, current), city=city)
        session.commit()
    fresh_config(request)
    query = urlencode({"lang": lang_of(request), "done": state_to})
    return RedirectResponse(f"/staff/{city}/campaigns/{slug}?{query}", status_code=303)


@router.post(BASE + "/{slug}/build")
def campaign_build(
    request: Request, city: str, slug: str, current: Editor, csrf_token: FormStr = None
) -> Response:
    """Build the campaign's issue now (a draft), as a scheduled run does: its sources
    are fetched first, then ``outreach build``'s stage function runs; audited."""
    check_csrf(request, csrf_token)
    st = state(request)
    config = fresh_config(request)
    camp = config.campaigns.get(slug)
    if camp is None or camp.city != city:
        raise not_found()
    with st.session() as session:
        fetch_sources(session, st.settings, config, [slug], now=now(request))
        session.commit()
    with st.session() as session:
        try:
            built = build_issue(
                session,
                st.settings,
                config,
                slug,
                now=now(request),
                by=current.user.email,
                auto_approve=False,
            )
        except OutreachError as exc:
            session.rollback()
            return _editor_refused(request, city, slug, exc.text(lang_of(request)))
        if built.issue is None:
            session.rollback()
            return _editor_refused(request, city, slug, "empty")  # the page words it
        audit.record(session, "issue.build", current.user.email, city=city, ip=client(request),
                               issue_id=built.issue.id, detail={"campaign": slug})  # fmt: skip
        issue_id = built.issue.id
        session.commit()
    return RedirectResponse(
        f"/staff/{city}/issues/{issue_id}?lang={lang_of(request)}", status_code=303
    )


def _editor_refused(request: Request, city: str, slug: str, why: str) -> Response:
    query = urlencode({"lang": lang_of(request), "refused": why[:200]})
    return RedirectResponse(f"/staff/{city}/campaigns/{slug}?{query}", status_code=303)
