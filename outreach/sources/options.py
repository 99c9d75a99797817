"""A source type's options as form fields: what the console's campaign editor shows.

Each type's ``options_model`` (a pydantic model, :mod:`outreach.sources.base`)
says which keys may stand next to ``type:`` in a campaign file. :func:`option_specs`
reads that model into one :class:`OptionSpec` per key (its widget, whether it is
required, its default and bounds), so the editor shows every registered type,
plug-ins included, without naming one. :func:`option_text` and :func:`option_value`
turn a value into the text of its field and back; the values are validated
afterwards by the same model, as a campaign file's are.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import AfterValidator
from pydantic.fields import FieldInfo

from outreach.sources.registry import get_source_class

#: The field's widget: a one-line text, an http(s) address, a whole number, a
#: checkbox, one value a line, ``name=value`` a line, a choice, or YAML text.
KINDS = ("text", "url", "int", "bool", "lines", "pairs", "choice", "yaml")


@dataclass(frozen=True)
class OptionSpec:
    """One option of a source type, as the editor shows it."""

    name: str
    kind: str
    required: bool
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_url(field: FieldInfo, annotation: Any) -> bool:
    validators = list(field.metadata)
    if get_origin(annotation) is Annotated:
        validators += list(get_args(annotation)[1:])
    return any(
        isinstance(v, AfterValidator) and getattr(v.func, "__name__", "") == "_check_url"
        for v in validators
    )


def _spec(name: str, field: FieldInfo) -> OptionSpec:
    annotation = _strip_optional(field.annotation)
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    bounds: dict[str, int] = {}
    for meta in field.metadata:  # annotated_types' Ge / Le, as Field(ge=, le=) gives them
        for attr, key in (("ge", "minimum"), ("le", "maximum")):
            bound = getattr(meta, attr, None)
            if isinstance(bound, int):
                bounds[key] = bound
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    origin = get_origin(base)
    kind = "yaml"
    choices: tuple[str, ...] = ()
    if _is_url(field, annotation):
        kind = "url"
    elif base is bool:
        kind = "bool"
    elif base is int:
        kind = "int"
    elif base is str:
        kind = "text"
    elif origin is Literal and all(isinstance(a, str) for a in get_args(base)):
        kind, choices = "choice", tuple(get_args(base))
    elif origin is list and get_args(base) == (str,):
        kind = "lines"
    elif origin is dict and get_args(base) == (str, str):
        kind = "pairs"
    return OptionSpec(name, kind, field.is_required(), default, choices=choices, **bounds)


def option_specs(type_name: str) -> list[OptionSpec]:
    """The options of the registered source type ``type_name``, in the model's order.

    Raises :class:`~outreach.errors.UnknownPluginError` for an unknown type.
    """
    model = get_source_class(type_name).options_model
    return [_spec(name, field) for name, field in model.model_fields.items()]


def option_text(spec: OptionSpec, value: Any) -> str:
    """The text of ``value`` in the option's field ('' for none)."""
    if value is None:
        return ""
    if spec.kind == "bool":
        return "1" if value else ""
    if spec.kind == "lines" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if spec.kind == "pairs" and isinstance(value, dict):
        return "\n".join(f"{k}={v}" for k, v in value.items())
    if spec.kind == "yaml" and not isinstance(value, str):
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False).strip()
    return str(value)


class OptionTextError(ValueError):
    """A field's text that cannot be read as the option's kind of value."""


def option_value(spec: OptionSpec, text: str) -> Any:
    """The value of a field's text; None when the field is empty (the key is left out).

    A number that is not one is returned as typed, for the options model to refuse
    with its own message. Raises :class:`OptionTextError` for a ``name=value`` line
    without ``=`` and for text that is not YAML.
    """
    text = text.replace("\r\n", "\n")
    if spec.kind == "bool":
        return bool(text.strip())
    if not text.strip():
        return None
    if spec.kind == "int":
        raw = text.strip()
        return int(raw) if raw.lstrip("-").isdigit() else raw
    if spec.kind == "lines":
        return [line.strip() for line in text.split("\n") if line.strip()]
    if spec.kind == "pairs":
        pairs: dict[str, str] = {}
        for line in text.split("\n"):
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise OptionTextError("expected name=value on each line")
            pairs[name.strip()] = value.strip()
        return pairs
    if spec.kind == "yaml":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise OptionTextError("not valid YAML") from exc
    return text.strip()
