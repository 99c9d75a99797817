"""`outreach subscribers forget` leaves only a keyed hash, and nothing re-adds the address:
not a CSV import, not `outreach subscribers add`, not the JSON API."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.cli.subscribers import subscribers
from outreach.db import dispose_engines
from outreach.models import Subscriber, Suppression
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, create_api_key
from outreach.suppression import suppression_key
from outreach.validation import email_hash
from outreach.web import create_app
from outreach.web.security import RateLimiter

with warnings.catch_warnings():
    # Starlette 1.x warns that its test client prefers httpx2 (as in tests/web).
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ADDRESS = "Matti@Yritys.FI"
PLAIN = "matti@yritys.fi"


@pytest.fixture
def cli(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    assert settings.secret_key is not None
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(settings.campaigns_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("OUTREACH_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    return CliRunner()


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with Session(engine) as s:
        _, plain = create_api_key(s, "crm")
        s.commit()
    limiter = RateLimiter({"form": (10_000, 100.0), "unsubscribe": (10_000, 100.0)})
    app = create_app(settings, mailer=RecordingMailer(), rate_limiter=limiter)
    with TestClient(app, base_url="https://testserver") as client:
        yield client, {"Authorization": f"Bearer {plain}"}
    dispose_engines()


def _add(cli: CliRunner, email: str) -> str:
    result = cli.invoke(
        subscribers,
        ["add", email, "--city", "vantaa", "--topic", "climate", "--confirmed",
         "--consent-note", "contract"],
    )  # fmt: skip
    return result.output


def test_forget_keeps_a_keyed_hash_that_nothing_re_adds(
    cli: CliRunner,
    api: tuple[TestClient, dict[str, str]],
    settings: Settings,
    engine: Engine,
    tmp_path: Path,
) -> None:
    assert "confirmed" in _add(cli, ADDRESS)
    forgotten = cli.invoke(subscribers, ["forget", ADDRESS, "--yes"])
    assert forgotten.exit_code == 0, forgotten.output
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0
        row = s.scalars(select(Suppression)).one()
    assert row.reason == "erased"
    assert row.email_hash != hashlib.sha256(PLAIN.encode()).hexdigest()
    assert row.email_hash == email_hash(PLAIN, suppression_key(settings))

    csv_file = tmp_path / "crm.csv"
    csv_file.write_text(f"sähköposti;yritys\n {ADDRESS.upper()} ;Yritys Oy\nuusi@yritys.fi;Uusi\n")
    imported = cli.invoke(
        subscribers,
        ["import", str(csv_file), "--city", "vantaa", "--confirmed", "--consent-note", "crm"],
    )
    assert imported.exit_code == 0, imported.output
    assert "1 imported" in imported.output
    assert "line 2: skipped: address is on the suppression list (erased)" in imported.output

    added = cli.invoke(
        subscribers,
        ["add", PLAIN, "--city", "kerava", "--confirmed", "--consent-note", "contract"],
    )
    assert added.exit_code == 1 and "suppression list" in added.output

    client, headers = api
    body = {"email": ADDRESS, "subscriptions": [{"city": "vantaa", "topics": ["climate"]}]}
    answer = client.post("/api/v1/subscribers", json=body, headers=headers)
    assert answer.status_code == 409, answer.text

    with Session(engine) as s:
        emails = set(s.scalars(select(Subscriber.email)))
    assert emails == {"uusi@yritys.fi"}


def test_api_erasure_suppresses_under_the_same_key(
    cli: CliRunner, api: tuple[TestClient, dict[str, str]], settings: Settings, engine: Engine
) -> None:
    client, headers = api
    assert "confirmed" in _add(cli, PLAIN)
    assert client.delete(f"/api/v1/subscribers/{PLAIN}", headers=headers).status_code == 204
    with Session(engine) as s:
        digest = s.scalars(select(Suppression.email_hash)).one()
    assert digest == email_hash(PLAIN, suppression_key(settings))
    added = cli.invoke(subscribers, ["add", ADDRESS, "--city", "vantaa"])
    assert added.exit_code == 1 and "suppression list" in added.output


def test_forget_leaves_the_address_nowhere_in_plain_text(
    cli: CliRunner, settings: Settings, engine: Engine
) -> None:
    from outreach import suppression
    from outreach.models import City, Story
    from outreach.subscriptions import forget
    from outreach.suppression import SuppressionReason

    assert "confirmed" in _add(cli, PLAIN)
    with Session(engine) as s:
        # A bounce reply usually quotes the address; a story names its contact.
        suppression.add(
            s, settings, PLAIN, SuppressionReason.HARD_BOUNCE, f"550 5.1.1 <{PLAIN}>: user unknown"
        )
        city_id = s.scalars(select(City.id)).first()
        s.add(Story(city_id=city_id, company_name="Yritys Oy", title="T", body="B",
                    contact_email=PLAIN))  # fmt: skip
        s.commit()
        assert forget(s, settings, ADDRESS)
        s.commit()
        row = s.scalars(select(Suppression)).one()
        story = s.scalars(select(Story)).one()
    assert row.reason == "bounce"  # still never mailed again
    assert PLAIN not in (row.detail or "")
    assert story.contact_email is None
