"""``mailgun://API_KEY@example.org`` — Mailgun's HTTP API, raw MIME over requests.

Mailgun accepts the finished MIME message (``POST /v3/{domain}/messages.mime``),
so the per-recipient bytes built once per issue language go out unchanged:
the Message-ID, List-Unsubscribe and every other header are ours. Options:
``base_url`` (default ``https://api.mailgun.net``; ``https://api.eu.mailgun.net``
for the EU region, or a local test server) and ``timeout`` (seconds, default 30).

Outcomes: 2xx sent; 429 and 5xx temporary (``Retry-After`` is passed on and
the rest of the batch is not tried); any other 4xx permanent, except 401/403,
which mean a wrong key and raise :class:`~outreach.errors.ConfigError` rather
than suppress every recipient. Mailgun has no idempotency key; the stable
Message-ID is what a duplicate can be recognised by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import SplitResult, unquote

import requests

from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.errors import ConfigError, msg

USER_AGENT = "outreach (+https://github.com/outreach-cities/outreach)"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class MailgunBackend(MailBackend):
    scheme = "mailgun"
    options = frozenset({"base_url", "timeout"})

    def __init__(self, url: SplitResult, params: Mapping[str, str]) -> None:
        super().__init__(url, params)
        key = unquote(url.username or "") if url.password is None else unquote(url.password)
        if not key or not url.hostname:
            raise ConfigError(msg("mailgun mail URL must look like mailgun://API_KEY@your-domain"))
        self.api_key = key
        self.domain = url.hostname
        self.base_url = self.params.get("base_url", "https://api.mailgun.net").rstrip("/")
        if not self.base_url.startswith(("https://", "http://")):
            raise ConfigError(
                msg("mailgun base_url {url}: expected an http(s) URL"), url=repr(self.base_url)
            )
        self.timeout = self.float_option("timeout", 30.0)
        self.session: requests.Session | None = None

    def open(self) -> bool:
        if self.session is not None:
            return False
        self.session = requests.Session()
        self.session.auth = ("api", self.api_key)
        self.session.headers["User-Agent"] = USER_AGENT
        return True

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def _post(self, m: OutgoingMessage) -> SendResult:
        assert self.session is not None
        try:
            response = self.session.post(
                f"{self.base_url}/v3/{self.domain}/messages.mime",
                data={"to": ",".join(m.recipients)},
                files={"message": ("message.eml", m.data, "message/rfc822")},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            return SendResult("temporary", f"mailgun request failed: {exc.__class__.__name__}")
        reply = f"{response.status_code} {response.text[:300]}".strip()
        code = response.status_code
        if 200 <= code < 300:
            return SendResult("sent", reply)
        if code in (401, 403):
            raise ConfigError(
                msg("mailgun refused the API key ({code}); check the mail URL"), code=code
            )
        if code == 429 or code >= 500:
            return SendResult(
                "temporary", reply, retry_after_seconds(response.headers.get("Retry-After"))
            )
        return SendResult("permanent", reply)

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.open()
        results: list[SendResult] = []
        for m in messages:
            result = self._post(m)
            results.append(result)
            if result.status == "temporary" and result.retry_after is not None:
                # Throttled: the rest of the batch would be refused as well.
                rest = len(messages) - len(results)
                results.extend([SendResult("temporary", result.reply, result.retry_after)] * rest)
                break
        return results
