"""A small OpenID Connect provider on 127.0.0.1 for the single sign-on tests.

Discovery, an authorization endpoint that signs in whoever the test set as
``person`` (no login form) and redirects back with a code, a token endpoint
that checks the client secret, the redirect URI and the PKCE verifier, a JWKS
and ID tokens signed with RS256. ``tamper`` makes it misbehave on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Provider:
    issuer: str
    client_id: str = "outreach-console"
    client_secret: str = "provider-secret-0123456789"
    person: dict[str, Any] = field(default_factory=dict)
    #: "nonce" (a wrong nonce), "aud" (another audience), "key" (signed by another key)
    tamper: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: float | None = None  # the provider's clock (seconds); None: real time

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The ``staff_oidc`` entry that points the app at this provider."""
        return {"label": "Test IdP", "issuer": self.issuer, "client_id": self.client_id,
                "client_secret": self.client_secret, **extra}  # fmt: skip

    def id_token(self, nonce: str) -> str:
        now = int(self.now if self.now is not None else time.time())
        claims = {
            "iss": self.issuer,
            "aud": "someone-else" if self.tamper == "aud" else self.client_id,
            "iat": now, "exp": now + 300,
            "nonce": "wrong" if self.tamper == "nonce" else nonce,
            **self.person,
        }  # fmt: skip
        key = RSAKey.generate_key(2048, {"kid": "k1"}) if self.tamper == "key" else self.key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, body: Any, status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._json({
                    "issuer": provider.issuer,
                    "authorization_endpoint": provider.issuer + "/authorize",
                    "token_endpoint": provider.issuer + "/token",
                    "jwks_uri": provider.issuer + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256"],
                })  # fmt: skip
            elif url.path == "/jwks":
                self._json({"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                assert query["response_type"] == "code" and query["client_id"] == provider.client_id
                assert query["code_challenge_method"] == "S256"
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                target = query["redirect_uri"] + "?" + urlencode(
                    {"code": code, "state": query["state"]})  # fmt: skip
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json({"error": "not_found"}, 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            auth = self.headers.get("Authorization", "")
            given = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth else ""
            secret_ok = given == f"{provider.client_id}:{provider.client_secret}" or (
                form.get("client_id") == provider.client_id
                and form.get("client_secret") == provider.client_secret
            )
            asked = provider.codes.pop(form.get("code", ""), None)
            if not secret_ok:
                self._json({"error": "invalid_client"}, 401)
                return
            if asked is None or asked["redirect_uri"] != form.get("redirect_uri"):
                self._json({"error": "invalid_grant"}, 400)
                return
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if challenge != asked["code_challenge"]:
                self._json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
                return
            self._json({
                "access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                "expires_in": 300, "id_token": provider.id_token(asked.get("nonce", "")),
            })  # fmt: skip

    return Handler


@contextmanager
def oidc_provider() -> Iterator[Provider]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    provider = Provider(issuer=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
