"""Public pages: languages, CSRF, enumeration, tokens, one-click, headers, limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.delivery.backends import memory
from outreach.models import ConsentRecord, Subscriber, Subscription, SubscriptionStatus, Suppression
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer
from outreach.tokens import make_token
from outreach.web import create_app
from outreach.web.security import EMBED_TOKEN_SECONDS, RateLimiter
from tests.web.conftest import TestClient, csrf_of, edit_cities

FORM = {"topics": ["climate"], "consent": "2026-11-v1"}


def sign_up(client: TestClient, city: str = "vantaa", lang: str = "fi", **fields: str) -> str:
    page = client.get(f"/{city}/subscribe?lang={lang}")
    data = {**FORM, "email": "matti@yritys.fi", **fields, "csrf_token": csrf_of(page.text)}
    resp = client.post(f"/{city}/subscribe?lang={lang}", data=data)
    return resp.text if resp.status_code == 200 else f"{resp.status_code}:{resp.text}"


def local(url: str) -> str:
    return url.removeprefix("https://outreach.example.fi")


def test_languages_by_query_and_accept_language(client: TestClient) -> None:
    fi = client.get("/vantaa/subscribe")
    assert '<html lang="fi">' in fi.text and "Sähköpostiosoite" in fi.text
    sv = client.get("/vantaa/subscribe", headers={"Accept-Language": "sv-FI,sv;q=0.9,en;q=0.5"})
    assert '<html lang="sv">' in sv.text and "E-postadress" in sv.text and "Vanda" in sv.text
    en = client.get("/vantaa/subscribe?lang=en", headers={"Accept-Language": "sv"})
    assert '<html lang="en">' in en.text and "Email address" in en.text
    assert en.headers["content-language"] == "en"


def test_a_city_with_one_language_says_so_on_a_form_read_in_another(
    client: TestClient,
) -> None:
    """Kerava sends in Finnish only: its form read in Swedish or English says so, as
    there is no language to choose; in Finnish, and where there is a choice, nothing."""
    sv = client.get("/kerava/subscribe?lang=sv").text
    assert "Nyhetsbrevet skickas endast på finska." in sv
    en = client.get("/kerava/embed?lang=en").text
    assert "The newsletter is sent in Finnish only." in en
    for path in ("/kerava/subscribe?lang=fi", "/vantaa/subscribe?lang=sv"):
        page = client.get(path).text
        assert "vain suomeksi" not in page and "endast på" not in page


def test_every_input_has_a_label(client: TestClient) -> None:
    for path in ("/vantaa/subscribe", "/vantaa/embed", "/stories/submit"):
        html = client.get(path).text
        ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html)
        assert ids
        for element_id in ids:
            assert f'<label for="{element_id}"' in html, (path, element_id)


def test_sign_up_confirm_preferences_unsubscribe(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    assert "Tarkista sähköpostisi" in sign_up(client, language="sv", business_id="0112038-9")
    mail = mailer.sent[0]
    assert mail.lang == "sv"
    confirm_path = local(mail.confirm_url)
    page = client.get(confirm_path)
    assert page.status_code == 200 and '<html lang="sv">' in page.text
    with Session(engine) as s:  # GET changes nothing
        assert s.scalars(select(Subscription)).one().status == SubscriptionStatus.PENDING
    done = client.post(confirm_path, data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and "Prenumerationen är bekräftad" in done.text
    again = client.post(confirm_path, data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 200 and "bekräftad" in again.text
    assert client.get(confirm_path).status_code == 200
    prefs_path = local(re.search(r'href="(https://[^"]+/preferences/[^"]+)"', done.text)[1])
    prefs = client.get(prefs_path + "?lang=fi")
    assert prefs.status_code == 200 and "Y-tunnus" in prefs.text and "0112038-9" in prefs.text
    saved = client.post(
        prefs_path + "?lang=fi",
        data={
            "cities": ["vantaa", "kerava"],
            "topics": ["climate", "awards"],
            "language": "fi",
            "company_name": "Yritys Oy",
            "interested_in_visit": "yes",
            "csrf_token": csrf_of(prefs.text),
        },
    )
    assert saved.status_code == 200 and "Asetuksesi on tallennettu" in saved.text
    # "Download my data" mails the address a one-hour link; the preferences
    # link (in every newsletter, so forwardable) never opens the data itself
    assert client.get(prefs_path + "/data").status_code in (404, 405)
    memory.clear()
    asked = client.post(
        prefs_path + "/data", data={"lang": "fi", "csrf_token": csrf_of(saved.text)}
    )
    assert asked.status_code == 200 and "Lähetimme linkin" in asked.text
    (sent,) = memory.outbox
    mailed = message_from_bytes(sent.data, policy=policy.default)
    assert sent.recipients == [held_address(engine)]
    body = mailed.get_body(("plain",))
    assert body is not None
    export_url = re.search(r"https://\S+/export/\S+", body.get_content())
    assert export_url
    data = client.get(local(export_url[0]))
    assert data.headers["content-type"] == "application/json"
    held = data.json()
    assert {s["city"] for s in held["subscriptions"]} == {"vantaa", "kerava"}
    assert held["subscriber"]["interested_in_visit"] is True
    with Session(engine) as s:
        sub = s.scalars(select(Subscription).join(Subscription.city)).first()
        assert sub is not None
        from outreach.subscriptions import token_for

        settings: Settings = client.app.state.outreach.settings  # type: ignore[attr-defined]
        unsub_path = f"/unsubscribe/{token_for(settings, sub, 'unsubscribe')}"
    page = client.get(unsub_path)
    assert page.status_code == 200
    resp = client.post(unsub_path, data={"scope": "all", "csrf_token": csrf_of(page.text)})
    assert resp.status_code == 200
    with Session(engine) as s:
        statuses = {x.status for x in s.scalars(select(Subscription))}
        assert statuses == {SubscriptionStatus.UNSUBSCRIBED}
        withdrawn = s.scalars(select(ConsentRecord).where(ConsentRecord.action == "withdrawn"))
        assert {r.channel for r in withdrawn} == {"web"}


def held_address(engine: Engine) -> str:
    with Session(engine) as s:
        return s.scalars(select(Subscriber.email)).one()


def test_export_link_works_for_one_hour_only(settings: Settings, engine: Engine) -> None:
    from outreach.campaigns import load
    from outreach.errors import InvalidTokenError
    from outreach.subscriptions import SignUp, add_subscriber, load_token

    config = load(settings.campaigns_path)
    with Session(engine) as s:
        sub = add_subscriber(
            s, settings, config, "kerava", SignUp.clean(config, "kerava", email="x@y.fi"),
            None, confirmed=True, consent_note="t",
        )  # fmt: skip
        assert sub is not None
        issued = datetime.now(UTC) - timedelta(minutes=61)
        old = make_token(settings.secret(), "export", sub.id, sub.token_salt, now=issued)
        fresh = make_token(settings.secret(), "export", sub.id, sub.token_salt)
        assert load_token(s, settings, fresh, "export").id == sub.id
        with pytest.raises(InvalidTokenError):
            load_token(s, settings, old, "export")
        with pytest.raises(InvalidTokenError):  # a preferences link is not an export link
            prefs = make_token(settings.secret(), "preferences", sub.id, sub.token_salt)
            load_token(s, settings, prefs, "export")


def _body(text: str) -> str:
    return re.sub(r'value="[^"]*"', "", text)


def test_same_answer_for_known_and_unknown_addresses(
    client: TestClient, mailer: RecordingMailer
) -> None:
    first = sign_up(client, email="known@yritys.fi")
    second = sign_up(client, email="known@yritys.fi")
    unknown = sign_up(client, email="other@yritys.fi")
    assert _body(first) == _body(second)
    assert _body(second).replace("known@", "X@") == _body(unknown).replace("other@", "X@")
    assert len(mailer.sent) == 2


def test_suppressed_address_gets_the_same_answer(
    client: TestClient, mailer: RecordingMailer, engine: Engine, settings: Settings
) -> None:
    from outreach.suppression import suppression_key
    from outreach.validation import email_hash

    with Session(engine) as s:
        digest = email_hash("gone@yritys.fi", suppression_key(settings))
        s.add(Suppression(email_hash=digest, reason="complaint"))
        s.commit()
    gone = sign_up(client, email="gone@yritys.fi")
    fresh = sign_up(client, email="new1@yritys.fi")
    assert _body(gone).replace("gone@", "X@") == _body(fresh).replace("new1@", "X@")
    assert [m.to for m in mailer.sent] == ["new1@yritys.fi"]


def test_csrf_required_on_forms(client: TestClient, mailer: RecordingMailer) -> None:
    data = {**FORM, "email": "a@b.fi"}
    assert client.post("/vantaa/subscribe", data=data).status_code == 403
    client.get("/vantaa/subscribe")
    forged = client.post("/vantaa/subscribe", data={**data, "csrf_token": "abc.def"})
    assert forged.status_code == 403
    # a token from another cookie does not pass either
    other = TestClient(client.app, base_url="https://testserver")
    stolen = csrf_of(other.get("/vantaa/subscribe").text)
    assert client.post("/vantaa/subscribe", data={**data, "csrf_token": stolen}).status_code == 403
    assert client.post("/stories/submit", data={"title": "x"}).status_code == 403
    assert mailer.sent == []


def test_embed_form_is_frameable_and_uses_a_stateless_token(
    client: TestClient, mailer: RecordingMailer
) -> None:
    page = client.get("/kerava/embed")
    assert "X-Frame-Options" not in page.headers
    # framed only by the city's own sites (embed_origins in cities.yaml), like the widget
    assert "frame-ancestors https://www.kerava.fi" in page.headers["content-security-policy"]
    token = re.search(r'name="embed_token" value="([^"]+)"', page.text)[1]
    fresh = TestClient(client.app, base_url="https://testserver")  # no cookies at all
    resp = fresh.post("/kerava/embed", data={**FORM, "email": "e@y.fi", "embed_token": token})
    assert resp.status_code == 200 and len(mailer.sent) == 1
    assert resp.headers["content-security-policy"].endswith("frame-ancestors https://www.kerava.fi")
    bad = fresh.post("/vantaa/embed", data={**FORM, "email": "e@y.fi", "embed_token": token})
    assert bad.status_code == 403  # bound to the city
    # its error page shows in the same frame: Vantaa's sites may frame it, no other
    assert bad.headers["content-security-policy"].endswith("frame-ancestors https://www.vantaa.fi")
    assert "X-Frame-Options" not in bad.headers
    invalid = fresh.post("/kerava/embed", data={**FORM, "email": "x", "embed_token": "nope"})
    assert invalid.headers["content-security-policy"].endswith(
        "frame-ancestors https://www.kerava.fi"
    )


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("fi", "Tämän lomakkeen voi lähettää kerran, ja se on voimassa 6 tuntia."),
        ("sv", "Det här formuläret kan skickas en gång och gäller i 6 timmar."),
        ("en", "This form can be sent once and works for 6 hours."),
    ],
)
def test_the_embed_forms_expired_page_says_why_without_cookies(
    client: TestClient, lang: str, says: str
) -> None:
    """The embeddable form uses no cookies: its expired page says the form is spent or
    too old, not that cookies must be allowed."""
    assert EMBED_TOKEN_SECONDS == 6 * 3600  # the hours the page names
    page = client.get(f"/kerava/embed?lang={lang}")
    token = re.search(r'name="embed_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    data = {**FORM, "email": "e@y.fi", "embed_token": token}
    assert client.post(f"/kerava/embed?lang={lang}", data=data).status_code == 200
    for sent in (token, "expired.or.forged"):
        again = client.post(f"/kerava/embed?lang={lang}", data={**data, "embed_token": sent})
        assert again.status_code == 403 and says in again.text
        assert "Cookies" not in again.text and "Evästeiden" not in again.text
        assert "Kakor" not in again.text
    # the city's own page, which does use a cookie, still says so
    forged = client.post("/kerava/subscribe?lang=en", data={**data, "csrf_token": "abc.def"})
    assert forged.status_code == 403 and "Cookies must be allowed" in forged.text


def test_embed_form_of_a_city_without_embed_origins_is_framed_by_no_site(
    settings: Settings, engine: Engine
) -> None:
    edit_cities(settings, "    embed_origins: [https://www.kerava.fi]\n", "")
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        page = c.get("/kerava/embed")
        assert page.status_code == 200 and 'name="embed_token"' in page.text
        assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")
        widget = c.get("/kerava/embed/stories")
        assert "frame-ancestors 'none'" in widget.headers["content-security-policy"]
        # no site may frame it, so it tells no one its height: no script
        assert "script-src 'none'" in widget.headers["content-security-policy"]
        assert "<script" not in widget.text
    dispose_engines()


def test_security_headers(client: TestClient) -> None:
    resp = client.get("/vantaa/subscribe")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    assert "<script" not in resp.text


@pytest.mark.parametrize("purpose", ["confirm", "unsubscribe", "preferences"])
def test_bad_tokens_all_get_the_same_404(
    client: TestClient, mailer: RecordingMailer, settings: Settings, purpose: str
) -> None:
    sign_up(client)
    good = local(mailer.sent[0].confirm_url).split("/")[-1]
    sid = int(good.split(".")[0][1:], 16)
    expired = make_token(
        settings.secret(), purpose, sid, "x" * 32, now=datetime.now(UTC) - timedelta(days=30)
    )
    foreign = (
        good if purpose != "confirm" else make_token(settings.secret(), "unsubscribe", sid, "salt")
    )
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    bodies = set()
    for token in (expired, foreign, tampered, "nonsense", "c1.1.AAAA", "x" * 300, "c\u0661.1.ÄÄ"):
        resp = client.get(f"/{purpose}/{token}")
        assert resp.status_code == 404, token
        bodies.add(resp.text.replace(token, "TOKEN"))
    assert len(bodies) == 1


def test_one_click_unsubscribe_urlencoded_and_multipart(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    from outreach.campaigns import load
    from outreach.subscriptions import SignUp, add_subscriber, token_for

    config = load(settings.campaigns_path)
    tokens = []
    with Session(engine) as s:
        for email in ("a@y.fi", "b@y.fi"):
            sub = add_subscriber(
                s,
                settings,
                config,
                "vantaa",
                SignUp.clean(config, "vantaa", email=email),
                None,
                confirmed=True,
                consent_note="test",
            )
            assert sub is not None
            tokens.append(token_for(settings, sub, "unsubscribe"))
        s.commit()
    with TestClient(app, base_url="https://testserver") as mail_client:
        first = mail_client.post(
            f"/unsubscribe/{tokens[0]}",
            data={"List-Unsubscribe": "One-Click"},
            follow_redirects=False,
        )
        assert first.status_code == 200 and "set-cookie" not in first.headers
        second = mail_client.post(
            f"/unsubscribe/{tokens[1]}",
            files={"List-Unsubscribe": (None, "One-Click")},
            follow_redirects=False,
        )
        assert second.status_code == 200
        again = mail_client.post(
            f"/unsubscribe/{tokens[1]}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert again.status_code == 200
        forged = mail_client.post("/unsubscribe/u1.1.AAAA", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 404
    with Session(engine) as s:
        rows = list(s.scalars(select(ConsentRecord).where(ConsentRecord.action == "withdrawn")))
        assert [r.channel for r in rows] == ["one-click", "one-click"]
        assert {x.status for x in s.scalars(select(Subscription))} == {
            SubscriptionStatus.UNSUBSCRIBED
        }


def test_one_click_from_one_provider_is_never_refused_for_rate(
    settings: Settings, engine: Engine, mailer: RecordingMailer
) -> None:
    """A mailbox provider posts many one-click unsubscribes from one address."""
    from outreach.campaigns import load
    from outreach.subscriptions import SignUp, add_subscriber, token_for

    config = load(settings.campaigns_path)
    tokens = []
    with Session(engine) as s:
        for n in range(12):
            signup = SignUp.clean(config, "vantaa", email=f"c{n}@provider.fi")
            sub = add_subscriber(
                s, settings, config, "vantaa", signup, None, confirmed=True, consent_note="t"
            )
            assert sub is not None
            tokens.append(token_for(settings, sub, "unsubscribe"))
        s.commit()
    tight = RateLimiter({"form": (2, 0.0001), "unsubscribe": (2, 0.0001)})
    app = create_app(settings, mailer=mailer, rate_limiter=tight)
    with TestClient(app, base_url="https://testserver") as provider:
        for token in tokens:
            resp = provider.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
            assert resp.status_code == 200
        # forged tokens from the same address do count, and are stopped
        codes = [
            provider.post(
                f"/unsubscribe/u1.{n:x}.AAAA", data={"List-Unsubscribe": "One-Click"}
            ).status_code
            for n in range(4)
        ]
        assert codes[:2] == [404, 404] and codes[-1] == 429
    with Session(engine) as s:
        statuses = {x.status for x in s.scalars(select(Subscription))}
        assert statuses == {SubscriptionStatus.UNSUBSCRIBED}


FIELDS = ["email", "company_name", "business_id", "contact_name", "language", "topics"]


@pytest.mark.parametrize("field", FIELDS)
def test_crlf_in_every_field_is_refused(
    client: TestClient, mailer: RecordingMailer, engine: Engine, field: str
) -> None:
    values = {
        "email": "ok@yritys.fi",
        "company_name": "Oy",
        "business_id": "0112038-9",
        "contact_name": "Matti",
        "language": "fi",
        "topics": "climate",
    }
    values[field] = values[field] + "\r\nBcc: victim@example.org"
    answer = sign_up(client, **values)
    assert answer.startswith("400:")
    assert mailer.sent == []
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_thousand_sign_ups_for_one_address_send_one_mail(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    token = csrf_of(client.get("/vantaa/subscribe").text)
    for _ in range(1000):
        resp = client.post(
            "/vantaa/subscribe", data={**FORM, "email": "Target@Yritys.fi", "csrf_token": token}
        )
        assert resp.status_code == 200
    assert len(mailer.sent) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == 1


def test_rate_limit_per_ip(settings: Settings, engine: Engine) -> None:
    limited = create_app(
        settings, mailer=RecordingMailer(), rate_limiter=RateLimiter({"form": (3, 0.001)})
    )
    with TestClient(limited, base_url="https://testserver") as c:
        token = csrf_of(c.get("/vantaa/subscribe").text)
        codes = [
            c.post(
                "/vantaa/subscribe", data={**FORM, "email": f"r{i}@y.fi", "csrf_token": token}
            ).status_code
            for i in range(5)
        ]
    assert codes == [200, 200, 200, 429, 429]


def test_healthz_with_extra_checks(settings: Settings, engine: Engine) -> None:
    ok = create_app(settings, mailer=RecordingMailer(), health_checks={"scheduler": lambda: True})
    with TestClient(ok) as c:
        resp = c.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.json()["checks"] == {"database": True, "scheduler": True}
    bad = create_app(settings, mailer=RecordingMailer(), health_checks={"scheduler": lambda: False})
    with TestClient(bad) as c:
        assert c.get("/healthz").status_code == 503


def test_unknown_city_and_page_are_404_pages(client: TestClient) -> None:
    for path in ("/helsinki/subscribe", "/vantaa/archive/99", "/vantaa/archive/x", "/nope"):
        resp = client.get(path + "?lang=sv")
        assert resp.status_code == 404 and "Sidan hittades inte" in resp.text, path


def test_the_shipped_campaigns_serve(settings: Settings, engine: Engine) -> None:
    from tests.conftest import ROOT

    shipped = settings.model_copy(update={"campaigns_dir": ROOT / "campaigns"})
    with TestClient(
        create_app(shipped, mailer=RecordingMailer()), base_url="https://testserver"
    ) as c:
        for city in ("vantaa", "kerava", "jarvenpaa"):
            assert c.get(f"/{city}/subscribe").status_code == 200
            assert c.get(f"/{city}/archive").status_code == 200


def test_a_failed_confirmation_mail_lets_the_next_sign_up_retry(
    settings: Settings, engine: Engine, limiter: RateLimiter
) -> None:
    from outreach.errors import DeliveryError
    from outreach.subscriptions.mail import ConfirmationMail

    tries: list[str] = []

    def failing(mail: ConfirmationMail) -> None:
        tries.append(mail.to)
        if len(tries) == 1:
            raise DeliveryError("relay down")

    app = create_app(settings, mailer=failing, rate_limiter=limiter)
    with TestClient(app, base_url="https://testserver") as client:
        assert "Tarkista" in sign_up(client)
        with Session(engine) as s:
            assert s.scalars(select(Subscription)).one().confirmation_sent_at is None
        assert "Tarkista" in sign_up(client)
    assert tries == ["matti@yritys.fi", "matti@yritys.fi"]
