"""CSRF tokens, per-IP rate limits and security headers for the web app.

CSRF: a signed double-submit token. The ``outreach_csrf`` cookie holds
``<random>.<hmac>``; every form carries the same value in ``csrf_token``. A POST
passes only if both are present, equal and the HMAC (keyed by the secret key)
is valid, so neither a forged form nor a cookie planted by a sibling domain
works. The embeddable form lives in a third-party iframe where cookies are not
sent, so it carries a token instead: a signed, time-limited value bound to the
city with a random nonce (``embed_token``), which works once (the web layer
spends it through :func:`outreach.subscriptions.limits.spend_token`). The RFC
8058 one-click endpoint takes no token: the unsubscribe token in its URL is the
proof.

Rate limits: an in-memory token bucket per client IP (IPv6: per /64) and
bucket name. It is per process: run one web process, or put a shared limiter (the reverse proxy)
in front of several. Behind a proxy, start uvicorn with ``--proxy-headers``
and ``--forwarded-allow-ips`` so ``request.client`` is the real client.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

CSRF_COOKIE = "outreach_csrf"
CSRF_FIELD = "csrf_token"
EMBED_TOKEN_SECONDS = 6 * 3600


def _sign(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()[:32]


def _same(a: str, b: str) -> bool:
    """Constant-time equality that also takes non-ASCII input (from a form)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def new_csrf_token(secret: bytes) -> str:
    value = secrets.token_urlsafe(24)
    return f"{value}.{_sign(secret, 'csrf|' + value)}"


def csrf_token_valid(secret: bytes, token: str | None) -> bool:
    if not token or len(token) > 200:
        return False
    value, _, sig = token.partition(".")
    return bool(value) and _same(sig, _sign(secret, "csrf|" + value))


def csrf_ok(secret: bytes, cookie: str | None, field: str | None) -> bool:
    """The double-submit check: both present, equal and correctly signed."""
    if not cookie or not field:
        return False
    return _same(cookie, field) and csrf_token_valid(secret, cookie)


def new_embed_token(secret: bytes, city: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    nonce = secrets.token_urlsafe(12)
    return f"{issued:x}.{nonce}.{_sign(secret, f'embed|{city}|{issued}|{nonce}')}"


def embed_token_issued(
    secret: bytes, city: str, token: str | None, *, now: float | None = None
) -> float | None:
    """When a valid, unexpired embed token of ``city`` was issued; None otherwise."""
    if not token or len(token) > 100:
        return None
    issued_hex, _, rest = token.partition(".")
    nonce, _, sig = rest.partition(".")
    if not nonce or not issued_hex.isalnum():
        return None
    try:
        issued = int(issued_hex, 16)
    except ValueError:
        return None
    if not _same(sig, _sign(secret, f"embed|{city}|{issued}|{nonce}")):
        return None
    age = (now if now is not None else time.time()) - issued
    return float(issued) if -60 <= age <= EMBED_TOKEN_SECONDS else None


def embed_token_valid(
    secret: bytes, city: str, token: str | None, *, now: float | None = None
) -> bool:
    """Signature and age only; whether it was used before is the caller's check."""
    return embed_token_issued(secret, city, token, now=now) is not None


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by (bucket name, client IP); thread-safe, bounded memory."""

    def __init__(
        self, limits: dict[str, tuple[float, float]] | None = None, max_keys: int = 100_000
    ) -> None:
        # name → (capacity, refill per second)
        self.limits: dict[str, tuple[float, float]] = {
            "form": (10.0, 10 / 60),
            "unsubscribe": (60.0, 1.0),
            "api": (120.0, 5.0),
            "staff": (20.0, 20 / 60),  # console sign-in forms, per address
        }
        self.limits.update(limits or {})
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, name: str, client: str, *, now: float | None = None) -> bool:
        capacity, rate = self.limits[name]
        now = time.monotonic() if now is None else now
        key = (name, client)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(capacity, now)
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
                bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return True
            return False


def content_security_policy(
    *,
    frameable: bool,
    inline_styles: bool = False,
    ancestors: Sequence[str] = (),
    script_hashes: Sequence[str] = (),
) -> str:
    """The pages' CSP; a ``frameable`` page may be framed by the origins ``ancestors``
    (a city's ``embed_origins``), none when there are none. Scripts: none, or only the
    inline scripts whose base64 sha256 digests are ``script_hashes``."""
    style = "'self' 'unsafe-inline'" if inline_styles else "'self'"
    allowed = " ".join(ancestors) if frameable and ancestors else "'none'"
    scripts = " ".join(f"'sha256-{digest}'" for digest in script_hashes) or "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {scripts}",
            f"style-src {style}",
            "img-src 'self' https: data:",
            "form-action 'self'",
            "base-uri 'none'",
            f"frame-ancestors {allowed}",
        ]
    )


def security_headers(
    *,
    frameable: bool,
    inline_styles: bool = False,
    ancestors: Sequence[str] = (),
    script_hashes: Sequence[str] = (),
) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(
            frameable=frameable,
            inline_styles=inline_styles,
            ancestors=ancestors,
            script_hashes=script_hashes,
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    if not frameable:
        headers["X-Frame-Options"] = "DENY"
    return headers
