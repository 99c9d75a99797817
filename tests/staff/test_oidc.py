"""Single sign-on against a small OpenID Connect provider on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.models import StaffGrant, StaffUser
from outreach.settings import OidcProvider, Settings
from outreach.staff.oidc import grants_for
from outreach.staff.policy import Role
from outreach.subscriptions import RecordingMailer
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.staff.oidc_provider import Provider, oidc_provider
from tests.staff.support import CITIES, Clock, make_account
from tests.web.conftest import TestClient

ROLES = [
    {"value": "vantaa-editors", "city": "vantaa", "role": "editor"},
    {"value": "vantaa-approvers", "city": "vantaa", "role": "approver"},
    {"value": "kerava-editors", "city": "kerava", "role": "editor"},
    {"value": "it-admins", "city": "*", "role": "admin"},
]


@pytest.fixture
def idp() -> Iterator[Provider]:
    with oidc_provider() as provider:
        yield provider


@pytest.fixture
def sso_client(
    settings: Settings, engine: Engine, idp: Provider, clock: Clock
) -> Iterator[TestClient]:
    clock.now = datetime.now(UTC)  # the provider signs with the real time
    config = OidcProvider.model_validate(idp.settings(roles=ROLES, cities=["vantaa"]))
    live = settings.model_copy(update={"staff_oidc": {"city": config}})
    app: FastAPI = create_app(live, mailer=RecordingMailer(), clock=clock,
                              rate_limiter=RateLimiter({"staff": (1000, 100.0)}))  # fmt: skip
    with TestClient(app, base_url="https://testserver") as client:
        yield client
    dispose_engines()


def through_provider(client: TestClient, next_path: str = "/staff/") -> Any:
    """Leave for the provider, let it answer, and come back with its code."""
    start = client.get(f"/staff/oidc/city?next={next_path}", follow_redirects=False)
    assert start.status_code == 303, start.text
    import requests

    at_idp = requests.get(start.headers["location"], allow_redirects=False, timeout=5)
    assert at_idp.status_code == 302
    back = urlsplit(at_idp.headers["Location"])
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def test_sign_in_through_the_provider_gives_the_mapped_role(
    sso_client: TestClient, idp: Provider, engine: Engine
) -> None:
    idp.person = {"sub": "u-1", "email": "Ville@Vantaa.fi", "email_verified": True,
                  "groups": ["vantaa-editors", "kerava-editors", "it-admins"]}  # fmt: skip
    done = through_provider(sso_client, "/staff/vantaa/")
    assert done.status_code == 303 and done.headers["location"].startswith("/staff/vantaa/")
    assert sso_client.get("/staff/vantaa/").status_code == 200
    # the provider serves Vantaa: its Kerava group and its admin group give nothing
    assert sso_client.get("/staff/kerava/").status_code == 404
    assert sso_client.get("/staff/audit").status_code == 403
    with Session(engine) as s:
        user = s.scalars(select(StaffUser)).one()
        assert (user.email, user.oidc_provider, user.password_hash) == (
            "ville@vantaa.fi",
            "city",
            None,
        )
        assert [(g.city, g.role) for g in s.scalars(select(StaffGrant))] == [("vantaa", "editor")]
    # the next sign-in follows the directory: promoted to approver
    idp.person["groups"] = ["vantaa-approvers"]
    sso_client.cookies.clear()
    assert through_provider(sso_client).status_code == 303
    with Session(engine) as s:
        assert [(g.city, g.role) for g in s.scalars(select(StaffGrant))] == [("vantaa", "approver")]


@pytest.mark.parametrize("tamper", ["nonce", "aud", "key"])
def test_a_bad_id_token_signs_nobody_in(
    sso_client: TestClient, idp: Provider, tamper: str, engine: Engine
) -> None:
    idp.person = {"sub": "u-2", "email": "v@vantaa.fi", "groups": ["vantaa-editors"]}
    idp.tamper = tamper
    refused = through_provider(sso_client)
    assert refused.status_code == 403
    assert sso_client.get("/staff/vantaa/", follow_redirects=False).status_code == 303
    with Session(engine) as s:
        assert s.scalars(select(StaffUser)).all() == []


def test_no_role_a_forged_state_and_a_taken_address_are_refused(
    sso_client: TestClient, idp: Provider, engine: Engine
) -> None:
    idp.person = {"sub": "u-3", "email": "x@vantaa.fi", "groups": ["somebody-else"]}
    assert through_provider(sso_client).status_code == 403
    start = sso_client.get("/staff/oidc/city", follow_redirects=False)
    assert start.status_code == 303
    forged = sso_client.get("/staff/oidc/city/callback?code=abc&state=forged")
    assert forged.status_code == 403
    assert sso_client.get("/staff/", follow_redirects=False).status_code == 303
    make_account(engine, "admin@vantaa.fi", "admin", None)
    idp.person = {"sub": "u-4", "email": "admin@vantaa.fi", "groups": ["vantaa-editors"]}
    assert through_provider(sso_client).status_code == 403  # not taken over
    with Session(engine) as s:
        admin = s.scalars(select(StaffUser).where(StaffUser.email == "admin@vantaa.fi")).one()
        assert admin.oidc_provider is None


def test_claim_mapping_rules() -> None:
    def cfg(**extra: Any) -> OidcProvider:
        return OidcProvider.model_validate(
            {
                "label": "x",
                "issuer": "https://idp",
                "client_id": "c",
                "client_secret": "s",
                "roles": ROLES,
                **extra,
            }
        )

    everyone = {"groups": ["vantaa-editors", "vantaa-approvers", "it-admins", "kerava-editors"]}
    assert grants_for(cfg(), everyone, CITIES) == {
        "vantaa": Role.APPROVER, "kerava": Role.EDITOR, "*": Role.ADMIN,
    }  # fmt: skip
    assert grants_for(cfg(cities=["kerava"]), everyone, CITIES) == {"kerava": Role.EDITOR}
    assert grants_for(cfg(claim="roles"), {"roles": "vantaa-editors"}, CITIES) == {
        "vantaa": Role.EDITOR
    }
    assert grants_for(cfg(), {"groups": None}, CITIES) == {}
    assert grants_for(cfg(), everyone, {"kerava"}) == {"kerava": Role.EDITOR, "*": Role.ADMIN}
