"""What every provider module shares."""

from __future__ import annotations

from outreach.errors import OutreachError


class WebhookRefused(OutreachError):
    """A webhook call that is not signed right, too old, or a replay."""
