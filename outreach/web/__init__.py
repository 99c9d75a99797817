"""The public web app: sign-up, confirmation, unsubscribe, preferences, archive, API."""

from outreach.web.app import create_app, daemon_app

__all__ = ["create_app", "daemon_app"]
