"""The console's story queue; the work is in ``outreach.staff.moderation``.

``GET /staff/{city}/stories`` lists the city's stories (what waits first);
``GET /staff/{city}/stories/{id}`` shows one as it will appear, with forms to
edit, translate (per language), approve, reject with a reason (mailed to the
submitter) and feature it. A form refused for what was typed shows the page
again with the values kept and the error at its field. A story of another city
is not found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from outreach.errors import OutreachError
from outreach.l10n import LANGUAGES
from outreach.models import Story, StoryStatus
from outreach.staff import Permission, drafts, moderation, sessions
from outreach.web.common import RowId, check_csrf, state
from outreach.web.staff import form_refused
from outreach.web.staff.guard import not_found, now
from outreach.web.staff.issues import Editor, Viewer, _actor
from outreach.web.staff.view import lang_of, page

log = logging.getLogger(__name__)
router = APIRouter()
FormStr = Annotated[str | None, Form()]
QUEUE = "/staff/{city}/stories"
ONE = QUEUE + "/{story_id}"
#: The field of the story page each refusal is about (a translation's: its language's).
FIELDS = {"reason": "reason", "story_fields": "company", "story_body": "body", "bad_url": "link"}
STATUSES = tuple(s.value for s in StoryStatus)


def _load(session: Session, city: str, story_id: int) -> Story:
    story = moderation.story_of(session, city, story_id)
    if story is None:
        raise not_found()
    return story


def _back(request: Request, city: str, story_id: int, **query: object) -> RedirectResponse:
    params = {"lang": lang_of(request), **{k: str(v) for k, v in query.items()}}
    return RedirectResponse(f"/staff/{city}/stories/{story_id}?{urlencode(params)}", 303)


@router.get(QUEUE)
def story_queue(
    request: Request, city: str, current: Viewer, status: str | None = None
) -> Response:
    st = state(request)
    shown = status if status in STATUSES else None
    with st.session() as session:
        stories = moderation.queue(session, city, shown)
        context = {"stories": stories, "status": shown, "statuses": STATUSES,
                   "tz": st.config.cities[city].timezone}  # fmt: skip
        return page(request, "staff/stories.html", context, current=current, city=city)


@router.get(ONE)
def story_page(request: Request, city: str, story_id: RowId, current: Viewer) -> Response:
    return _story_page(request, city, story_id, current)


def _story_page(
    request: Request, city: str, story_id: int, current: sessions.Current, *,
    status: int = 200, **again: object,
) -> Response:  # fmt: skip
    st = state(request)
    with st.session() as session:
        story = _load(session, city, story_id)
        context = {
            "view": moderation.view(story),
            "s": story,
            "translations": [
                (code, (story.translations or {}).get(code) or {})
                for code in LANGUAGES
                if code != story.language
            ],
            "limits": moderation.TRANSLATED,
            "tz": st.config.cities[city].timezone,
            "may_edit": current.principal.can(Permission.EDIT, city),
            "done": request.query_params.get("done"),
            "refused": request.query_params.get("refused"),
            "base": f"/staff/{city}/stories/{story_id}",
            **again,
        }
        return page(request, "staff/story.html", context, current=current, city=city,
                    status=status)  # fmt: skip


def _act(
    request: Request,
    city: str,
    story_id: RowId,
    csrf_token: str | None,
    done: str,
    work: Callable[[Session, Story], object],
    typed: Mapping[str, str] | None = None,
    fields: Mapping[str, str] = FIELDS,
    current: sessions.Current | None = None,
) -> Response:
    """Do ``work``; a form refused for what was typed (``typed``: its values by element
    id) comes back with it, the refusal at the field ``fields`` names for its code."""
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        story = _load(session, city, story_id)
        try:
            work(session, story)
        except drafts.Refused as exc:
            session.rollback()
            if typed is not None and current is not None and exc.code in fields:
                shown = form_refused.shown_again(form_refused.at(exc.code, fields), typed)
                return _story_page(request, city, story_id, current,
                                   status=form_refused.STATUS, **shown)  # fmt: skip
            return _back(request, city, story_id, refused=exc.code)
        except OutreachError as exc:
            session.rollback()
            log.info("console action on story %s refused: %s", story_id, exc)
            return _back(request, city, story_id, refused="state")
        session.commit()
    return _back(request, city, story_id, done=done)


@router.post(ONE + "/edit")
def edit(
    request: Request,
    city: str,
    story_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    company: FormStr = None,
    title: FormStr = None,
    body: FormStr = None,
    link: FormStr = None,
) -> Response:
    def work(session: Session, story: Story) -> object:
        moderation.edit(session, story, _actor(request, current), company=company or "",
                        title=title or "", body=body or "", link=link or "")  # fmt: skip
        return None

    typed = {"company": company or "", "title": title or "", "body": body or "",
             "link": link or ""}  # fmt: skip
    named = " ".join((company or "").split())
    fields = {**FIELDS, "story_fields": "company" if not named or len(named) > 200 else "title"}
    return _act(request, city, story_id, csrf_token, "edited", work, typed, fields, current)


@router.post(ONE + "/translate")
def translate(
    request: Request,
    city: str,
    story_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    language: FormStr = None,
    title: FormStr = None,
    body: FormStr = None,
    figures: FormStr = None,
    image_alt: FormStr = None,
) -> Response:
    def work(session: Session, story: Story) -> object:
        return moderation.translate(
            session, story, _actor(request, current), language or "", title=title or "",
            body=body or "", figures=figures or "", image_alt=image_alt or "",
        )  # fmt: skip

    code = language or ""
    typed = {f"title-{code}": title or "", f"body-{code}": body or "",
             f"figures-{code}": figures or "", f"image_alt-{code}": image_alt or ""}  # fmt: skip
    empty = f"title-{code}" if not (title or "").strip() else f"body-{code}"
    fields = {"translation_fields": empty}  # a wrong language: the page says so, as before
    return _act(request, city, story_id, csrf_token, "translated", work, typed, fields, current)


@router.post(ONE + "/approve")
def approve(
    request: Request, city: str, story_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    def work(session: Session, story: Story) -> object:
        moderation.approve(session, story, _actor(request, current), now(request))
        return None

    return _act(request, city, story_id, csrf_token, "approved", work)


@router.post(ONE + "/reject")
def reject(
    request: Request,
    city: str,
    story_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    reason: FormStr = None,
) -> Response:
    st = state(request)
    mailed: list[bool] = []

    def work(session: Session, story: Story) -> object:
        actor = _actor(request, current)
        mailed.append(moderation.reject(session, st.settings, st.config, story, reason or "",
                                        actor, now(request)))  # fmt: skip
        return None

    answer = _act(request, city, story_id, csrf_token, "rejected", work,
                  {"reason": reason or ""}, current=current)  # fmt: skip
    if mailed and not mailed[0]:
        return _back(request, city, story_id, done="rejected_unmailed")
    return answer


@router.post(ONE + "/feature")
def feature(
    request: Request,
    city: str,
    story_id: RowId,
    current: Editor,
    csrf_token: FormStr = None,
    featured: FormStr = None,
) -> Response:
    on = featured == "yes"

    def work(session: Session, story: Story) -> object:
        moderation.feature(session, story, on, _actor(request, current))
        return None

    return _act(request, city, story_id, csrf_token, "featured" if on else "unfeatured", work)
