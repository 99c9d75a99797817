"""The console's campaign pages: the list, the editor, try a source, preview Markdown.

A campaign file shows read-only ("managed in files"); a console campaign opens
in the editor. The editor posts its fields with ``action=check`` (show the next
runs, the audience count, the Markdown preview and every error, save nothing)
or ``action=save``. The work is in ``outreach.staff.authoring`` and
``outreach.campaigns``; a campaign of another city is not found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from outreach.campaigns import Audience, Config, DocumentError, console, form, schedule_problem
from outreach.campaigns import Schedule as CronSchedule
from outreach.errors import OutreachError
from outreach.issues import build_issue
from outreach.scheduler import next_runs
from outreach.sources import body_html, fetch_sources
from outreach.staff import Current, Permission, audit, authoring
from outreach.web.common import check_csrf, state
from outreach.web.staff.guard import Require, not_found, now
from outreach.web.staff.view import client, lang_of, page

router = APIRouter()
Viewer = Annotated[Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[Current, Depends(Require(Permission.EDIT))]
FormStr = Annotated[str | None, Form()]
BASE = "/staff/{city}/campaigns"
KINDS = ("newsletter", "announcement")
SIZE_CLASSES = ("micro", "small", "medium", "large")
TEMPLATES = ("newsletter", "announcement")


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
    rows = [
        {"slug": slug, "kind": camp.kind, "origin": "console" if slug in config.console else "file",
         "state": states.get(slug, "active"), "languages": ", ".join(camp.languages)}
        for slug, camp in sorted(config.campaigns.items()) if camp.city == city
    ]  # fmt: skip
    broken = {k: v for k, v in config.broken.items() if k.split(" ")[0].startswith(city)}
    context = {
        "rows": rows,
        "broken": broken,
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
    errors: list[str] | None = None,
    checked: bool = False,
    status: int = 200,
) -> HTMLResponse:
    st = state(request)
    config = fresh_config(request)
    cfg = config.cities[city]
    fields = form.to_form(document, texts)
    runs: list[datetime] = []
    count = None
    previews: dict[str, str] = {}
    problems = list(errors or [])
    sched = document.get("schedule")
    if sched is not None or document.get("send_at"):
        try:
            cron = CronSchedule.model_validate(sched) if sched is not None else None
            problem = schedule_problem(cron, cfg.timezone) if cron is not None else None
            if problem:
                problems.append(f"schedule: {problem}")
            else:
                camp, _e, _b = console.check_document(config, document, texts=texts)
                if camp is not None:
                    runs = next_runs(camp, cfg.timezone, now(request))
        except (ValueError, TypeError) as exc:
            problems.append(f"schedule: {str(exc).splitlines()[0]}")
    try:
        audience = Audience.model_validate(document.get("audience") or {})
        langs = [str(x) for x in document.get("languages") or cfg.languages]
        with st.session() as session:
            count = authoring.audience_count(session, st.settings, city, audience, langs)
    except ValueError:
        count = None
    for lang, text in (texts or {}).items():
        previews[lang] = body_html(text)
    context = {
        "f": fields.values,
        "chosen_langs": fields.languages or list(cfg.languages),
        "chosen_topics": fields.topics,
        "chosen_sizes": fields.size_classes,
        "city_langs": list(cfg.languages),
        "topics": [(k, v.get(lang_of(request)) or k) for k, v in sorted(config.topics.items())],
        "sizes": SIZE_CLASSES,
        "kinds": KINDS,
        "templates": TEMPLATES,
        "weekdays": form.WEEKDAYS,
        "nths": form.NTHS,
        "schedule_kinds": form.SCHEDULE_KINDS,
        "placeholders": form.PLACEHOLDERS,
        "slug": slug,
        "errors": problems,
        "checked": checked,
        "runs": runs,
        "tz": cfg.timezone,
        "count": count,
        "previews": previews,
        "may_edit": current.principal.can(Permission.EDIT, city),
        "state": _state_of(request, slug),
        "action": f"/staff/{city}/campaigns/{slug}" if slug else f"/staff/{city}/campaigns/new",
        "done": request.query_params.get("done"),
    }
    response = page(
        request, "staff/campaign_edit.html", context, current=current, city=city, status=status
    )
    return _allow_script(response)


def _allow_script(response: HTMLResponse) -> HTMLResponse:
    csp = response.headers.get("Content-Security-Policy", "")
    response.headers["Content-Security-Policy"] = csp.replace(
        "script-src 'none'", "script-src 'self'; connect-src 'self'"
    )
    return response


def _state_of(request: Request, slug: str | None) -> str | None:
    if slug is None:
        return None
    with state(request).session() as session:
        found = console.row(session, slug)
        return found.state if found is not None else None


@router.get(BASE + "/new")
def campaign_new(
    request: Request, city: str, current: Editor, kind: str = "newsletter"
) -> Response:
    cfg = state(request).config.cities[city]
    document: dict[str, Any] = {
        "kind": kind if kind in KINDS else "newsletter", "city": city,
        "languages": list(cfg.languages), "schedule": {"day": "1st tue", "hour": 9},
    }  # fmt: skip
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
    if data.get("action") != "save" or errors:
        return _editor(
            request, current, city, document, texts, slug=slug, errors=errors, checked=True
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


@router.post(BASE + "/try-source")
def try_source(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    section: FormStr = None, source: Annotated[int, Form()] = 0,
) -> Response:  # fmt: skip
    """Fetch one source of a (not yet saved) section and show what it would give."""
    check_csrf(request, csrf_token)
    st = state(request)
    config = fresh_config(request)
    error, view = None, None
    try:
        doc = yaml.safe_load(section or "")
        if isinstance(doc, list) and doc:
            doc = doc[0]
        if not isinstance(doc, dict):
            raise ValueError("expected a section: id, kind, title and sources")
        with st.session() as session:
            view = authoring.try_section_source(
                st.settings, config, city, doc, source, session=session, now=now(request)
            )
    except (yaml.YAMLError, ValueError, OutreachError) as exc:
        error = str(exc).splitlines()[0]
    tz = config.cities[city].timezone
    context = {
        "section": section or "",
        "source_index": source,
        "error": error,
        "view": view,
        "tz": tz,
    }
    return page(
        request,
        "staff/try_source.html",
        context,
        current=current,
        city=city,
        status=200 if view else 422,
    )


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
            return _editor_refused(request, city, slug, str(exc))
        if built.issue is None:
            session.rollback()
            return _editor_refused(request, city, slug, built.skipped or "nothing to build")
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
