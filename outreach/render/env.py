"""The Jinja2 environment of the email templates: loader, gettext and filters.

One environment per templates folder, city and language: the loader looks in
``templates/email/<city>/`` first, then ``templates/email/``; autoescape is on
for ``.html`` templates and off for ``.txt`` ones; undefined names are errors.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    pass_context,
    pass_eval_context,
    select_autoescape,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from outreach.errors import RenderError
from outreach.l10n import format_date, format_event_time, place_gettext, translations


def _parse(value: str | datetime | date | None) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    return datetime.fromisoformat(value)


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(str(ctx.get("tz") or "Europe/Helsinki"))


@pass_context
def event_time(ctx: Context, item: dict[str, Any]) -> str:
    """An event's localised time in the city's timezone (``ti 8.12.2026 klo 9.00–11.00``)."""
    start = _parse(item.get("starts_at"))
    if not isinstance(start, datetime):
        return ""
    end = _parse(item.get("ends_at"))
    return format_event_time(
        start,
        end if isinstance(end, datetime) else None,
        str(ctx["lang"]),
        _zone(ctx),
        all_day=bool(item.get("all_day")),
        end_date_only=bool(item.get("ends_date_only")),
    )


@pass_context
def local_date(ctx: Context, value: str | datetime | date | None, weekday: bool = False) -> str:
    """A date in the reader's conventions (``8.12.2026``), in the city's timezone."""
    parsed = _parse(value)
    if parsed is None:
        return ""
    if isinstance(parsed, datetime):
        parsed = parsed.astimezone(_zone(ctx)).date()
    return format_date(parsed, str(ctx["lang"]), weekday=weekday)


#: At most this many later dates of a recurring event are listed, then "+N more".
MAX_DATES = 6


@pass_context
def local_dates(ctx: Context, values: list[str] | None, limit: int = MAX_DATES) -> str:
    """Short dates of a recurring event's later occurrences: ``to 10.12., to 17.12.``.

    At most ``limit`` dates (a daily series would fill lines), then ``+4 muuta``.
    """
    shown = []
    for value in values or []:
        parsed = _parse(value)
        if isinstance(parsed, datetime):
            day = parsed.astimezone(_zone(ctx)).date()
            shown.append(format_date(day, str(ctx["lang"]), year=False))
    if len(shown) <= limit:
        return ", ".join(shown)
    more = translations(str(ctx["lang"]), "email").gettext("+{n} more")
    return ", ".join([*shown[:limit], more.format(n=len(shown) - limit)])


def _place_text(lang: str) -> Any:
    """``_k(kind, message, **values)``: ``_`` worded for a place of ``kind`` (a
    ``city`` or a ``municipality``: ``city.kind``), filled as ``_`` fills."""

    @pass_eval_context
    def _k(eval_ctx: EvalContext, kind: str, message: str, **values: Any) -> str:
        text = place_gettext(lang, "email", str(kind), message)
        if eval_ctx.autoescape:  # as the i18n extension's ``_``: the catalog is trusted,
            text = Markup(text)  # noqa: S704 (the values are escaped by ``%``)
        return text % values if values else text

    return _k


@lru_cache(maxsize=64)
def environment(templates_dir: Path, city: str, lang: str) -> Environment:
    """The cached environment for ``city``'s email templates in ``lang``."""
    base = templates_dir / "email"
    env = Environment(
        loader=FileSystemLoader([str(base / city), str(base)]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(lang, "email"), newstyle=True
    )
    env.globals["_k"] = _place_text(lang)
    env.filters["event_time"] = event_time
    env.filters["local_date"] = local_date
    env.filters["local_dates"] = local_dates
    return env


def get_template(templates_dir: Path, city: str, lang: str, name: str) -> Template:
    try:
        return environment(templates_dir, city, lang).get_template(name)
    except TemplateError as exc:
        raise RenderError(f"email template {name}: {_describe(exc)}") from exc


def render_template(template: Template, context: dict[str, Any]) -> str:
    """Render, turning every template failure into a one-line :class:`RenderError`."""
    try:
        return template.render(context)
    except TemplateError as exc:
        raise RenderError(f"email template {template.name}: {_describe(exc)}") from exc


def _describe(exc: TemplateError) -> str:
    lineno = getattr(exc, "lineno", None)
    where = f" (line {lineno})" if lineno else ""
    return f"{exc.__class__.__name__}: {exc.message or exc}{where}"
