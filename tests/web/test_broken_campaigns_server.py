"""A real ``outreach serve`` / ``daemon --web`` with broken campaign files still serves
the emailed links: unsubscribe, confirm and preferences need only the database and
the secret key. A broken campaign file leaves out only that campaign; a broken
cities.yaml closes the sign-up form (503) and stops the scheduler, nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.db import create_db_engine
from outreach.models import Base, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import SignUp, add_subscriber, subscribe, token_for
from tests.conftest import ROOT
from tests.web.conftest import csrf_of
from tests.web.test_server import free_port

pytestmark = pytest.mark.slow
SECRET = "served-test-secret-0123456789abcdef0123456789"


class Site:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.campaigns = tmp / "campaigns"
        shutil.copytree(ROOT / "campaigns", self.campaigns)
        self.db_url = f"sqlite:///{tmp}/outreach.db"
        self.settings = Settings(
            database_url=self.db_url,
            mail_url="memory:",
            base_url="http://127.0.0.1",
            secret_key=SECRET,
            campaigns_dir=self.campaigns,
            templates_dir=ROOT / "templates",
            var_dir=tmp / "var",
        )
        engine = create_db_engine(self.db_url)
        Base.metadata.create_all(engine)
        config = load(self.campaigns)
        with Session(engine) as s:
            sub = add_subscriber(
                s, self.settings, config, "vantaa",
                SignUp.clean(config, "vantaa", email="reader@yritys.fi", language="sv"),
                None, confirmed=True, consent_note="test",
            )  # fmt: skip
            assert sub is not None
            pending = subscribe(
                s, self.settings, config, "kerava",
                SignUp.clean(config, "kerava", email="new@yritys.fi"), None,
            ).subscription  # fmt: skip
            assert pending is not None
            s.commit()
            self.sub_id, self.pending_id = sub.id, pending.id
            self.unsubscribe = token_for(self.settings, sub, "unsubscribe")
            self.preferences = token_for(self.settings, sub, "preferences")
            self.confirm = token_for(self.settings, pending, "confirm")
        engine.dispose()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
        env.update(
            OUTREACH_DATABASE_URL=self.db_url,
            OUTREACH_SECRET_KEY=SECRET,
            OUTREACH_CAMPAIGNS_DIR=str(self.campaigns),
            OUTREACH_TEMPLATES_DIR=str(ROOT / "templates"),
            OUTREACH_VAR_DIR=str(self.tmp / "var"),
            OUTREACH_MAIL_URL="memory:",
            OUTREACH_CLI_LANGUAGE="en",
            OUTREACH_CONFIG=os.devnull,
            OUTREACH_SCHEDULER_POLL_SECONDS="0.2",
        )
        return env

    def log(self) -> str:
        return (self.tmp / "stderr.log").read_text()

    def status(self, sub_id: int) -> SubscriptionStatus:
        engine = create_db_engine(self.db_url)
        try:
            with Session(engine) as s:
                return s.scalars(select(Subscription.status).where(Subscription.id == sub_id)).one()
        finally:
            engine.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


@contextmanager
def outreach(site: Site, *args: str) -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    port = free_port()
    log = (site.tmp / "stderr.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "outreach", *args, "--host", "127.0.0.1", "--port", str(port)],
        cwd=site.tmp,
        env=site.env(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=url, timeout=10) as client:
            while True:
                if proc.poll() is not None:
                    err = (site.tmp / "stderr.log").read_text()
                    raise AssertionError(f"outreach {args} exited {proc.returncode}: {err}")
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield client, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def unsubscribe_by_form(client: httpx.Client, token: str) -> httpx.Response:
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200, page.text
    return client.post(
        f"/unsubscribe/{token}", data={"scope": "city", "csrf_token": csrf_of(page.text)}
    )


def test_serve_with_one_broken_campaign_file(site: Site) -> None:
    (site.campaigns / "kerava-monthly.yaml").write_text("slug: kerava-monthly\nkind: [\n")
    with outreach(site, "serve") as (client, _):
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["campaigns"]["broken"] == ["kerava-monthly.yaml"]
        assert client.get("/kerava/subscribe").status_code == 200
        assert client.get("/vantaa/subscribe").status_code == 200
        done = unsubscribe_by_form(client, site.unsubscribe)
        assert done.status_code == 200 and "Vanda" in done.text
    assert site.status(site.sub_id) == SubscriptionStatus.UNSUBSCRIBED


def test_serve_with_a_broken_cities_file(site: Site) -> None:
    (site.campaigns / "cities.yaml").write_text("topics: {climate: {fi: x}}\ncities: [\n")
    with outreach(site, "serve") as (client, _):
        health = client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert health.json()["campaigns"]["broken"] == ["cities.yaml"]

        form = client.get("/vantaa/subscribe", headers={"Accept-Language": "fi"})
        assert form.status_code == 503 and "Tilaaminen" in form.text

        prefs = client.get(f"/preferences/{site.preferences}")
        assert prefs.status_code == 200 and "reader@yritys.fi" in prefs.text
        assert "/unsubscribe/u" in prefs.text
        csrf = csrf_of(client.get(f"/unsubscribe/{site.unsubscribe}").text)
        refused = client.post(
            f"/preferences/{site.preferences}", data={"cities": [], "csrf_token": csrf}
        )
        assert refused.status_code == 503
        assert site.status(site.sub_id) == SubscriptionStatus.CONFIRMED

        confirm = client.get(f"/confirm/{site.confirm}")
        assert confirm.status_code == 200 and "Kerava" in confirm.text
        confirmed = client.post(
            f"/confirm/{site.confirm}", data={"csrf_token": csrf_of(confirm.text)}
        )
        assert confirmed.status_code == 200

        one_click = client.post(
            f"/unsubscribe/{site.unsubscribe}", data={"List-Unsubscribe": "One-Click"}
        )
        assert one_click.status_code == 200 and "Vanda" in one_click.text
    assert site.status(site.pending_id) == SubscriptionStatus.CONFIRMED
    assert site.status(site.sub_id) == SubscriptionStatus.UNSUBSCRIBED


def test_daemon_web_with_a_broken_cities_file_keeps_the_links(site: Site) -> None:
    (site.campaigns / "cities.yaml").write_text("cities: [\n")
    with outreach(site, "daemon", "--web") as (client, proc):
        done = unsubscribe_by_form(client, site.unsubscribe)
        assert done.status_code == 200
        assert client.get("/healthz").json()["campaigns"]["broken"] == ["cities.yaml"]
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0  # stopped cleanly, as in the normal mode
    err = (site.tmp / "stderr.log").read_text()
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert "cities.yaml" in errors[0] and "the scheduler does not start" in errors[0]
    assert site.status(site.sub_id) == SubscriptionStatus.UNSUBSCRIBED


def wait_until(predicate: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_daemon_web_with_a_broken_cities_file_starts_the_scheduler_on_sighup(site: Site) -> None:
    """SIGHUP (systemctl reload) while the web app serves alone: still broken, one
    line and it keeps serving; fixed, the scheduler starts and the sign-up opens."""
    cities = site.campaigns / "cities.yaml"
    good = cities.read_text()
    cities.write_text(good + "  - slug: [broken\n")
    with outreach(site, "daemon", "--web") as (client, proc):
        assert client.get("/vantaa/subscribe").status_code == 503
        assert client.get("/healthz").json()["leader"] is False

        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reload failed" in site.log()), site.log()
        time.sleep(0.5)  # a few passes of the loop more
        assert proc.poll() is None
        assert site.log().count("reload failed") == 1
        assert "cities.yaml" in next(x for x in site.log().splitlines() if "reload failed" in x)
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["campaigns"]["broken"]

        cities.write_text(good)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: client.get("/healthz").json()["leader"] is True), site.log()
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and "campaigns" not in health
        assert health["checks"] == {"database": True, "scheduler": True}
        assert client.get("/vantaa/subscribe").status_code == 200

        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
    assert "daemon stopped cleanly" in site.log()


TUUSULA = """
  - slug: tuusula
    name: {fi: Tuusula, sv: Tusby, en: Tuusula}
    languages: [fi]
    timezone: Europe/Helsinki
    sender: {name: {fi: Tuusulan kunta}, address: ilmasto@tuusula.fi}
    footer: {address: {fi: "Hyrylänkatu 8, 04300 Tuusula"}, website: https://www.tuusula.fi}
    privacy_url: https://www.tuusula.fi/tietosuoja
    accessibility: {compliance: partial, feedback_email: saavutettavuus@tuusula.fi,
                    reviewed: "2026-11-01"}
    topics: [climate]
"""


def test_daemon_web_serves_what_a_reload_of_the_running_daemon_loads(site: Site) -> None:
    """SIGHUP (systemctl reload) while everything runs: the web app serves the files
    the scheduler now runs, not those of its start. A city added to cities.yaml gets
    its sign-up form; a city entry broken since is named by /healthz while its pages
    keep serving as loaded before."""
    cities = site.campaigns / "cities.yaml"
    added = cities.read_text() + TUUSULA
    with outreach(site, "daemon", "--web") as (client, proc):
        assert client.get("/tuusula/subscribe").status_code == 404
        cities.write_text(added)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: client.get("/tuusula/subscribe").status_code == 200), site.log()
        assert client.get("/healthz").json()["status"] == "ok"

        typo = "privcy_url: https://www.kerava.fi/tietosuoja"
        cities.write_text(added.replace("privacy_url: https://www.kerava.fi/tietosuoja", typo))
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: client.get("/healthz").json()["status"] == "degraded"), site.log()
        broken = client.get("/healthz").json()["campaigns"]["broken"]
        assert broken == [
            "cities.yaml (kerava)",
            "kerava-environmental-award.yaml",
            "kerava-monthly.yaml",
        ]
        assert client.get("/kerava/subscribe").status_code == 200  # as loaded before
        assert client.get("/tuusula/subscribe").status_code == 200
    assert "Traceback" not in site.log()
