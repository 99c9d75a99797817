"""A real send refuses to start while OUTREACH_BASE_URL is unset: its links would
point to http://localhost:8000. Dry runs and the local backends (file, console,
memory), which the demo and tests use, go on as before."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from outreach.cli import main
from outreach.db import dispose_engines, get_engine, session_scope
from outreach.delivery.backends import memory
from outreach.models import Delivery
from outreach.settings import get_settings
from tests.conftest import ROOT

SMTP = "smtp://mailer:secret@127.0.0.1:2525?starttls=false"


def _cli_env(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.chdir(folder)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(ROOT / "campaigns"))
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "cli-test-secret-0123456789abcdef0123456789")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "en")
    # the examples link to the cities' real sites, which tests cannot reach
    monkeypatch.setenv("OUTREACH_CHECK_LINK_SECONDS", "0")
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo's database (sent with memory:, no base URL) and an approved
    announcement, made once: each test works on a copy of the folder."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [n for n in os.environ if n.startswith("OUTREACH_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("OUTREACH_CONFIG", os.devnull)
        _cli_env(monkeypatch, folder)
        memory.clear()
        runner = CliRunner()
        assert invoke(runner, "demo").exit_code == 0
        assert invoke(runner, "issue", "build", "kerava-environmental-award").exit_code == 0
        approved = invoke(runner, "issue", "approve", "kerava-environmental-award/2026")
        assert approved.exit_code == 0
        dispose_engines()
        memory.clear()
        get_settings.cache_clear()
    yield folder


@pytest.fixture
def run(demo_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The demo's folder (its database, an approved announcement), this test's own copy."""
    shutil.copytree(demo_folder, tmp_path, dirs_exist_ok=True)
    _cli_env(monkeypatch, tmp_path)
    memory.clear()
    yield CliRunner()
    dispose_engines()
    memory.clear()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args))


def with_mail_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("OUTREACH_MAIL_URL", url)
    get_settings.cache_clear()


def deliveries() -> int:
    with session_scope(get_engine(get_settings())) as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


@pytest.mark.parametrize(
    "args",
    [
        ("issue", "send", "kerava-environmental-award/2026"),
        ("issue", "send", "kerava-environmental-award/2026", "--test-to", "staff@kerava.fi"),
        ("run-due",),
        ("daemon",),
    ],
)
def test_a_real_send_needs_the_base_url(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    before = deliveries()
    with_mail_url(monkeypatch, SMTP)
    result = invoke(run, *args)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        "Error: set OUTREACH_BASE_URL to the web app's public address (e.g. "
        "https://uutiskirje.example.fi): the links in the mail would point to "
        "http://localhost:8000"
    ]
    assert deliveries() == before  # nothing queued


def test_a_city_mail_server_counts_too(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", folder)
    cities = folder / "cities.yaml"
    cities.write_text(
        cities.read_text().replace(
            '    branding: {color: "#1b5e3b"}',
            f'    branding: {{color: "#1b5e3b"}}\n    mail_url: {SMTP}',
        )
    )
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(folder))
    get_settings.cache_clear()
    result = invoke(run, "issue", "send", "kerava-environmental-award/2026")
    assert result.exit_code == 1 and "OUTREACH_BASE_URL" in result.output


def test_dry_runs_and_local_backends_need_no_base_url(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_mail_url(monkeypatch, SMTP)
    dry = invoke(run, "issue", "send", "kerava-environmental-award/2026", "--dry-run")
    assert dry.exit_code == 0, dry.output
    with_mail_url(monkeypatch, "memory:")
    sent = invoke(run, "issue", "send", "kerava-environmental-award/2026")
    assert sent.exit_code == 0, sent.output
    assert memory.outbox


def test_an_explicit_base_url_lets_the_send_start(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_BASE_URL", "https://uutiskirje.kerava.fi")
    with_mail_url(monkeypatch, SMTP)
    result = invoke(run, "issue", "send", "kerava-environmental-award/2026", "--workers", "1")
    assert "OUTREACH_BASE_URL" not in result.output
    assert deliveries() > 0  # queued (the mail server is not there; they wait for a retry)
