"""Single sign-on by OpenID Connect (Entra ID, Google Workspace, Keycloak…).

The authorization code flow with PKCE (S256), ``state`` and ``nonce``:
:func:`begin` makes the provider's address and a :class:`Flow` the web layer
keeps in a signed, short-lived cookie; :func:`finish` checks the state, trades
the code for tokens (Authlib) and verifies the ID token's signature against the
provider's JWKS, its issuer, audience, expiry and nonce (joserfc). :func:`sign_in`
maps the configured claim to roles (:func:`grants_for`) and starts a session.

A provider limited to some ``cities`` gives roles only there and never admin,
so a city's own directory cannot reach another city. A person's roles come from
the provider at every sign-in; an address that already has a password account
is not taken over.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach.errors import StaffError
from outreach.models import StaffGrant, StaffUser
from outreach.settings import OidcProvider, Settings
from outreach.staff import audit, sessions
from outreach.staff.policy import ALL_CITIES, Role
from outreach.staff.secrets import keyed_hash
from outreach.staff.signin import Outcome, Result
from outreach.validation import normalise_email

FLOW_SECONDS = 600
TIMEOUT = (5.0, 10.0)
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
#: Clock difference tolerated between us and the provider.
LEEWAY = 60


@dataclass(frozen=True)
class Flow:
    """One sign-in under way: kept in a signed cookie between leaving and returning."""

    provider: str
    state: str
    nonce: str
    verifier: str
    issued: int
    next: str = "/staff/"
    lang: str = "fi"


def provider(settings: Settings, name: str) -> OidcProvider:
    found = settings.staff_oidc.get(name)
    if found is None:
        raise StaffError(f"no single sign-on provider {name[:64]!r}")
    return found


def metadata(config: OidcProvider) -> dict[str, Any]:
    """The provider's discovery document; its ``issuer`` must be the configured one."""
    url = config.issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        answer = requests.get(url, timeout=TIMEOUT, allow_redirects=False)
        answer.raise_for_status()
        doc: dict[str, Any] = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise StaffError(f"the sign-on provider did not answer: {exc.__class__.__name__}") from None
    if doc.get("issuer") != config.issuer:
        raise StaffError("the sign-on provider's discovery document names another issuer")
    return doc


def _client(config: OidcProvider, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        scope=config.scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def begin(
    settings: Settings, name: str, redirect_uri: str, next_path: str = "/staff/", lang: str = "fi"
) -> tuple[str, Flow]:
    """The provider's authorization address and the flow to keep until it returns."""
    config = provider(settings, name)
    doc = metadata(config)
    flow = Flow(
        name,
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(24),
        secrets.token_urlsafe(48),
        int(time.time()),
        next_path,
        lang,
    )
    url, _state = _client(config, redirect_uri).create_authorization_url(
        doc["authorization_endpoint"],
        state=flow.state,
        code_verifier=flow.verifier,
        nonce=flow.nonce,
    )
    return url, flow


def pack(secret: bytes, flow: Flow) -> str:
    body = base64.urlsafe_b64encode(json.dumps(asdict(flow)).encode()).decode().rstrip("=")
    return f"{body}.{keyed_hash(secret, 'oidc-flow', body)[:43]}"


def unpack(secret: bytes, value: str | None, now: float | None = None) -> Flow | None:
    """The flow of a cookie value, if it is ours and fresh."""
    if not value or len(value) > 2000:
        return None
    body, _, sig = value.partition(".")
    if not secrets.compare_digest(sig, keyed_hash(secret, "oidc-flow", body)[:43]):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        flow = Flow(**data)
    except (ValueError, TypeError):
        return None
    age = (now if now is not None else time.time()) - flow.issued
    return flow if 0 <= age <= FLOW_SECONDS else None


def finish(
    settings: Settings, flow: Flow, params: dict[str, str], redirect_uri: str, now: datetime
) -> dict[str, Any]:
    """The verified ID token claims of a provider's answer; StaffError on anything wrong."""
    if params.get("error"):
        raise StaffError(f"the sign-on provider refused: {params['error'][:60]}")
    if not secrets.compare_digest(params.get("state", ""), flow.state) or not params.get("code"):
        raise StaffError("the sign-in link is not this browser's; start again")
    config = provider(settings, flow.provider)
    doc = metadata(config)
    try:
        token = _client(config, redirect_uri).fetch_token(
            doc["token_endpoint"],
            code=params["code"],
            code_verifier=flow.verifier,
            grant_type="authorization_code",
            timeout=TIMEOUT,
        )
        keys = requests.get(doc["jwks_uri"], timeout=TIMEOUT, allow_redirects=False)
        keys.raise_for_status()
        keyset = KeySet.import_key_set(keys.json())
        decoded = jwt.decode(str(token["id_token"]), keyset, algorithms=ALGORITHMS)
    except (requests.RequestException, KeyError, ValueError, JoseError) as exc:
        raise StaffError(f"single sign-on failed: {exc.__class__.__name__}") from None
    except Exception as exc:  # Authlib's OAuth errors
        raise StaffError(f"single sign-on failed: {str(exc)[:80]}") from None
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=int(now.timestamp()),
        leeway=LEEWAY,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": flow.nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise StaffError(f"the ID token is not valid: {exc.error}") from None
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != config.client_id:
        raise StaffError("the ID token is not valid: azp")
    return claims


def grants_for(config: OidcProvider, claims: dict[str, Any], known: set[str]) -> dict[str, Role]:
    """The roles the claim's values give, within the provider's cities; the highest wins."""
    raw = claims.get(config.claim)
    values = {raw} if isinstance(raw, str) else {str(v) for v in raw or [] if v is not None}
    order = list(Role)
    grants: dict[str, Role] = {}
    for entry in config.roles:
        if entry.value not in values:
            continue
        role = Role(entry.role)
        if role == Role.ADMIN:
            if config.cities:  # a city's provider never makes an admin
                continue
            grants[ALL_CITIES] = Role.ADMIN
            continue
        if entry.city not in known or (config.cities and entry.city not in config.cities):
            continue
        if entry.city not in grants or order.index(role) > order.index(grants[entry.city]):
            grants[entry.city] = role
    return grants


def sign_in(
    session: Session,
    settings: Settings,
    name: str,
    claims: dict[str, Any],
    *,
    known_cities: set[str],
    ip: str,
    now: datetime,
) -> Result:
    """Start a session for the provider's person, with the roles the claims give."""
    config = provider(settings, name)
    subject = str(claims["sub"])[:255]
    try:
        email = normalise_email(str(claims.get("email", "")))
    except ValueError:
        raise StaffError("the sign-on provider gave no usable email address") from None
    if claims.get("email_verified") is False:
        raise StaffError("the sign-on provider has not verified the email address")
    grants = grants_for(config, claims, known_cities)
    user = session.scalars(
        select(StaffUser)
        .where(StaffUser.oidc_provider == name, StaffUser.oidc_subject == subject)
        .options(selectinload(StaffUser.grants))
    ).one_or_none()
    if user is None:
        taken = session.scalars(select(StaffUser).where(StaffUser.email == email)).one_or_none()
        if taken is not None:
            audit.record(
                session,
                "staff.signin.failed",
                email,
                ip=ip,
                detail={"method": f"oidc:{name}", "reason": "address taken"},
                now=now,
            )
            return Result(Outcome.REFUSED)
        if not grants:
            audit.record(
                session,
                "staff.signin.failed",
                email,
                ip=ip,
                detail={"method": f"oidc:{name}", "reason": "no role"},
                now=now,
            )
            return Result(Outcome.REFUSED)
        user = StaffUser(email=email, oidc_provider=name, oidc_subject=subject, created_at=now)
        session.add(user)
        session.flush()
    if user.disabled_at is not None or not grants:
        audit.record(
            session,
            "staff.signin.failed",
            user.email,
            ip=ip,
            detail={"method": f"oidc:{name}"},
            now=now,
        )
        return Result(Outcome.REFUSED)
    current = {(g.city, g.role) for g in user.grants}
    wanted = {(city, role.value) for city, role in grants.items()}
    if current != wanted:
        user.grants.clear()
        session.flush()
        user.grants.extend(StaffGrant(city=c, role=r, created_at=now) for c, r in sorted(wanted))
        audit.record(
            session,
            "staff.grant",
            f"oidc:{name}",
            detail={"account": user.email, "roles": sorted(f"{c}:{r}" for c, r in wanted)},
            now=now,
        )
    user.email = email
    user.last_sign_in_at = now
    token = sessions.start(session, user, sessions.FULL, ip=ip, now=now)
    audit.record(
        session, "staff.signin", user.email, ip=ip, detail={"method": f"oidc:{name}"}, now=now
    )
    return Result(Outcome.SIGNED_IN, token)
