"""Provider webhooks, one small module each, mapping a payload to MailEvents.

A provider module offers ``verify(settings, payload, now) -> str`` (the
single-use token of a signed request; raises :class:`WebhookRefused`) and
``events(payload) -> list[MailEvent]``. :data:`PROVIDERS` is the registry
``/hooks/<provider>`` looks in.
"""

from __future__ import annotations

from types import ModuleType

from outreach.bounces.providers import mailgun
from outreach.bounces.providers.base import WebhookRefused

PROVIDERS: dict[str, ModuleType] = {"mailgun": mailgun}

__all__ = ["PROVIDERS", "WebhookRefused"]
