"""Texts staff write (subject lines, preheaders) as small sandboxed templates.

They may use ``{{ value }}``, attribute access, a few filters and ``{% if %}``:
nothing that loops, defines macros or reaches settings. That bounds both the
time and the size of a render, whatever a campaign file holds.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from outreach.errors import RenderError

MAX_SOURCE = 1000
MAX_OUTPUT = 500
ALLOWED_FILTERS = frozenset({"upper", "lower", "title", "capitalize", "trim", "default", "e"})
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Const,
    nodes.Filter,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
)

_env = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


def check_text_template(source: str) -> str | None:
    """Why ``source`` is not an acceptable staff text template, or None."""
    if len(source) > MAX_SOURCE:
        return f"expected at most {MAX_SOURCE} characters, got {len(source)}"
    if "\r" in source or "\n" in source:
        return "expected a single line"
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            return f"{type(node).__name__} is not allowed here (only values, filters and if)"
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            return f"filter {node.name!r} is not allowed (allowed: {sorted(ALLOWED_FILTERS)})"
    return None


def text_context(period_label: str, number: int, period: str, city_name: str) -> dict[str, Any]:
    """What a subject or preheader may use: ``issue.*`` and ``city.name``."""
    return {
        "issue": {"period_label": period_label, "number": number, "period": period},
        "city": {"name": city_name},
    }


_SAMPLE = text_context("joulukuu 2026", 1, "2026-12", "Vantaa")
_KNOWN = sorted(f"{outer}.{inner}" for outer, values in _SAMPLE.items() for inner in values)


def check_text_values(source: str) -> str | None:
    """Why ``source`` would fail to render (e.g. a misspelt value), or None.

    Run on a sample of the real context, so a campaign file's mistake is found
    when it is validated rather than when the issue is built.
    """
    try:
        _env.from_string(source).render(_SAMPLE)
    except (UndefinedError, SecurityError, TypeError) as exc:
        unknown = _unknown_name(source)
        what = f"unknown name {{{{ {unknown} }}}}" if unknown else str(exc)
        return f"{what} (a subject or preheader may use {', '.join(_KNOWN)})"
    return None


def _unknown_name(source: str) -> str | None:
    """The first name in ``source`` the context lacks, dotted (``issue.period_lable``)."""
    for node in _env.parse(source).find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if isinstance(node, nodes.Name):
            if node.name not in _SAMPLE:
                return str(node.name)
            continue
        key: Any = node.attr if isinstance(node, nodes.Getattr) else getattr(node, "arg", None)
        key = getattr(key, "value", key)  # issue["number"]: the constant's value
        inner = getattr(node, "node", None)
        if isinstance(inner, nodes.Name) and str(key) not in _SAMPLE.get(inner.name, {}):
            return f"{inner.name}.{key}"
    return None


def render_text(source: str, context: dict[str, Any]) -> str:
    """Render a staff text template to one line of plain text."""
    problem = check_text_template(source)
    if problem:
        raise RenderError(f"{source[:60]!r}: {problem}")
    try:
        out = _env.from_string(source).render(context)
    except (UndefinedError, SecurityError, TypeError) as exc:
        raise RenderError(f"{source[:60]!r}: {exc}") from exc
    out = " ".join(out.split())  # one line, never a header break
    return out[:MAX_OUTPUT]
