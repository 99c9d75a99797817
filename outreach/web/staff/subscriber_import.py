"""The console's CSV import (upload, preview, commit) and the city's leads.

The upload is kept on disk (``outreach.staff.people.save_upload``) and the
preview is the importer's dry run of it: nothing is written until the person
commits the same file. The leads list and its CSV come from
``outreach.subscriptions.leads``; marking one contacted is audited.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from outreach.errors import SubscriptionError
from outreach.staff import Permission, people, sessions
from outreach.subscriptions import (
    ImportAborted,
    ImportRefused,
    ImportReport,
    leads,
    write_leads_csv,
)
from outreach.web.common import RowId, check_csrf, state
from outreach.web.staff import form_refused
from outreach.web.staff.guard import Require, now
from outreach.web.staff.subscribers import actor, back, refusal
from outreach.web.staff.view import acting, lang_of, page

router = APIRouter()
Viewer = Annotated[sessions.Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[sessions.Current, Depends(Require(Permission.EDIT))]
FormStr = Annotated[str | None, Form()]
IMPORT = "/staff/{city}/subscribers/import"
LEADS = "/staff/{city}/leads"
#: Skipped lines and warnings shown on the preview (the counts cover them all).
SHOWN_NOTES = 500


def _report(report: ImportReport, lang: str) -> dict[str, object]:
    return {
        "rows": report.rows, "imported": report.imported, "updated": report.updated,
        "unchanged": report.unchanged, "skipped_count": len(report.skipped),
        "warning_count": len(report.warnings), "mailed": report.mailed,
        "mail_failed": report.mail_failed, "mail_held": report.mail_held,
        "skipped": [n.text(lang) for n in report.skipped[:SHOWN_NOTES]],
        "warnings": [n.text(lang) for n in report.warnings[:SHOWN_NOTES]],
        "shown": SHOWN_NOTES,
    }  # fmt: skip


@router.get(IMPORT)
def import_form(request: Request, city: str, current: Editor) -> Response:
    context = {"refused": request.query_params.get("refused")}
    return page(request, "staff/subscribers_import.html", context, current=current, city=city)


@router.post(IMPORT)
def import_preview(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    file: Annotated[UploadFile | None, File()] = None, confirmed: FormStr = None,
    consent_note: FormStr = None,
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    typed = {"i-confirmed": bool(confirmed), "i-note": consent_note}  # a file cannot be kept
    if file is None or not file.filename:
        return _again(request, city, current, "no-file", typed)
    st = state(request)
    who = actor(request, current)
    try:
        upload = people.save_upload(
            st.settings, city, who, file.filename, file.file, confirmed=bool(confirmed),
            consent_note=consent_note,
        )  # fmt: skip
        report = people.preview_import(st.engine, st.settings, st.config, city, upload)
    except (ImportAborted, ImportRefused) as exc:
        said = exc.text(lang_of(request), console=True)
        return _again(request, city, current, "file", typed, said)
    except SubscriptionError as exc:  # save_upload: a confirmed import without its note
        return _again(request, city, current, refusal(exc) if "consent" in str(exc) else "file",
                      typed)  # fmt: skip
    context: dict[str, object] = {"report": _report(report, lang_of(request)), "upload": upload}
    return page(request, "staff/subscribers_import.html", context, current=current, city=city)


def _again(
    request: Request, city: str, current: sessions.Current, code: str,
    typed: Mapping[str, object], said: str = "",
) -> Response:  # fmt: skip
    """The upload form again, the consent kept and the refusal at its field; ``said``
    is the importer's own words for a refused file (what to fix, in the page's
    language), shown instead of the page's general one."""
    fields = {"no-file": "i-file", "file": "i-file", "consent": "i-note"}
    context = form_refused.shown_again(form_refused.at(code, fields), typed)
    context["file_refused"] = said
    return page(request, "staff/subscribers_import.html", context, current=current, city=city,
                status=form_refused.STATUS)  # fmt: skip


@router.post(IMPORT + "/commit")
def import_commit(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    upload: FormStr = None,
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    st = state(request)
    who = actor(request, current)
    kept = people.load_upload(st.settings, city, who, upload or "")
    if kept is None:
        return back(request, IMPORT.format(city=city), refused="expired")
    with st.session() as session:
        try:
            report = people.commit_import(st.engine, session, st.settings, st.config, city, kept,
                                          who, st.mailer, now(request))  # fmt: skip
        except ImportAborted as exc:  # the rows before the line were saved, and audited
            session.commit()
            lang = lang_of(request)
            context: dict[str, object] = {"aborted": exc.text(lang, console=True),
                                          "report": _report(exc.report, lang),
                                          "committed": True}  # fmt: skip
            return page(request, "staff/subscribers_import.html", context, current=current,
                        city=city, status=400)  # fmt: skip
        except ImportRefused as exc:  # nothing was written
            session.rollback()
            refused: dict[str, object] = {"aborted": exc.text(lang_of(request), console=True)}
            return page(request, "staff/subscribers_import.html", refused, current=current,
                        city=city, status=400)  # fmt: skip
        session.commit()
    done: dict[str, object] = {"report": _report(report, lang_of(request)), "committed": True}
    return page(request, "staff/subscribers_import.html", done, current=current, city=city)


@router.get(LEADS)
def leads_page(request: Request, city: str, current: Viewer) -> Response:
    st = state(request)
    open_only = request.query_params.get("open") == "1"
    with st.session() as session:
        found = leads(session, city, open_only=open_only)
    context = {"leads": found, "open_only": open_only,
               "may_edit": current.principal.can(Permission.EDIT, city),
               "done": request.query_params.get("done"),
               "tz": st.config.cities[city].timezone}  # fmt: skip
    return page(request, "staff/leads.html", context, current=current, city=city)


@router.post(LEADS + "/export")
def leads_csv(
    request: Request, city: str, current: Editor, csrf_token: FormStr = None,
    open_only: FormStr = None,
) -> Response:  # fmt: skip
    check_csrf(request, csrf_token)
    st = state(request)
    out = io.StringIO()
    with st.session() as session:
        found = leads(session, city, open_only=bool(open_only))
        count = write_leads_csv(found, out)
        people.exported(session, city, actor(request, current), what="leads.export",
                        purpose="visits", detail={"rows": count}, now=now(request))  # fmt: skip
        session.commit()
    headers = {"Content-Disposition": f'attachment; filename="{city}-leads.csv"',
               "Cache-Control": "no-store"}  # fmt: skip
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.post(LEADS + "/{subscriber_id}/contacted")
def lead_contacted(
    request: Request, city: str, subscriber_id: RowId, current: Editor, csrf_token: FormStr = None
) -> Response:
    with acting(request, csrf_token) as session:
        people.contacted(session, city, subscriber_id, actor(request, current), now(request))
    return back(request, LEADS.format(city=city), done="contacted")
