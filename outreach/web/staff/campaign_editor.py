"""The campaign editor page: its fields, next runs, audience count, errors and a trial.

:func:`editor_page` renders a campaign document (stored, or as posted) into the
editor: the flat fields of :mod:`outreach.campaigns.form`, each section and source
as fields of their own, the next three runs in the city's time zone, the live
count of the audience, every error next to its field in the reader's language
(:mod:`outreach.web.staff.campaign_errors`) and, after "Try this source", what
that source gives with its section's filters applied (its status and error in the
reader's language too, :mod:`outreach.sources.words`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from outreach.campaigns import LANGUAGES, Audience, console, form, form_sections, schedule_problem
from outreach.campaigns import Schedule as CronSchedule
from outreach.scheduler import next_runs
from outreach.sources import body_html, fetch_error, known_types, status_word
from outreach.staff import Current, Permission, authoring
from outreach.web.common import state
from outreach.web.staff.campaign_errors import OPTION_LABELS, field_id, localise
from outreach.web.staff.guard import now
from outreach.web.staff.view import lang_of, page

KINDS = ("newsletter", "announcement")
SIZE_CLASSES = ("micro", "small", "medium", "large")
TEMPLATES = ("newsletter", "announcement")


@dataclass(frozen=True)
class TrialShown:
    """What trying the source at (section, source) gave: its items, or why it could not."""

    section: int
    source: int
    view: authoring.TrialView | None
    error: str | None


def _runs(config: Any, document: dict[str, Any], texts: Any, tz: str, at: datetime) -> Any:
    """(next runs, schedule problems) of the document's schedule."""
    problems: list[str] = []
    runs: list[datetime] = []
    sched = document.get("schedule")
    if sched is None and not document.get("send_at"):
        return runs, problems
    try:
        cron = CronSchedule.model_validate(sched) if sched is not None else None
        problem = schedule_problem(cron, tz) if cron is not None else None
        if problem:
            problems.append(f"schedule: {problem}")
        else:
            camp, _e, _b = console.check_document(config, document, texts=texts)
            if camp is not None:
                runs = next_runs(camp, tz, at)
    except (ValueError, TypeError) as exc:
        problems.append(f"schedule: {str(exc).splitlines()[0]}")
    return runs, problems


def _section_langs(city_langs: list[str], sections: Any) -> list[str]:
    """The city's languages and any other a section has a title or introduction in."""
    found = set(city_langs)
    for sec in sections if isinstance(sections, list) else []:
        for key in ("title", "intro"):
            texts = sec.get(key) if isinstance(sec, dict) else None
            found |= {str(k) for k in (texts if isinstance(texts, dict) else {})}
    return [lang for lang in LANGUAGES if lang in found]


def editor_page(
    request: Request,
    current: Current,
    config: Any,
    city: str,
    document: dict[str, Any],
    texts: dict[str, str] | None,
    *,
    slug: str | None,
    errors: list[str] | None = None,
    checked: bool = False,
    trial: TrialShown | None = None,
    focus: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    st = state(request)
    cfg = config.cities[city]
    fields = form.to_form(document, texts)
    runs, problems = _runs(config, document, texts, cfg.timezone, now(request))
    problems = list(dict.fromkeys([*(errors or []), *problems]))  # each error once
    count = None
    try:
        audience = Audience.model_validate(document.get("audience") or {})
        langs = [str(x) for x in document.get("languages") or cfg.languages]
        with st.session() as session:
            count = authoring.audience_count(session, st.settings, city, audience, langs)
    except ValueError:
        count = None
    previews = {lang: body_html(text) for lang, text in (texts or {}).items()}
    shown = localise(problems, lang_of(request))
    if trial is not None and trial.error:  # said in the reader's language, where it is
        trial_error = localise([trial.error], lang_of(request)).summary
        trial = TrialShown(trial.section, trial.source, None, trial_error[0][1])
    fetched = trial.view if trial is not None else None
    context = {
        "f": fields.values,
        "chosen_langs": fields.languages or list(cfg.languages),
        "chosen_topics": fields.topics,
        "chosen_sizes": fields.size_classes,
        "city_langs": list(cfg.languages),
        "section_langs": _section_langs(list(cfg.languages), document.get("sections")),
        "topics": [(k, v.get(lang_of(request)) or k) for k, v in sorted(config.topics.items())],
        "sizes": SIZE_CLASSES,
        "kinds": KINDS,
        "templates": TEMPLATES,
        "weekdays": form.WEEKDAYS,
        "nths": form.NTHS,
        "schedule_kinds": form.SCHEDULE_KINDS,
        "placeholders": form.PLACEHOLDERS,
        "sections": fields.sections,
        "section_kinds": form_sections.SECTION_KINDS,
        "source_types": known_types(),
        "option_fields": form_sections.option_fields(),
        "option_labels": OPTION_LABELS,
        "fid": field_id,
        "by_field": shown.by_field,
        "summary": shown.summary,
        "trial": trial,
        "trial_status": status_word(fetched.status, lang_of(request)) if fetched else None,
        "trial_error": fetch_error(fetched.error, lang_of(request)) if fetched else None,
        "focus": focus,
        "slug": slug,
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
