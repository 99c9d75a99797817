"""Bounce and complaint rates per issue and city; `outreach status` warns past
0.1 % complaints or 2 % hard bounces."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from outreach.bounces import issue_rates, process_message
from outreach.bounces.rates import Rates, city_rates
from outreach.cli import main
from outreach.db import get_engine, session_scope
from outreach.delivery.backends import memory
from outreach.models import Delivery, Issue
from outreach.settings import get_settings
from tests.bounces.reports import arf
from tests.test_cli import invoke
from tests.test_cli import run as run


@pytest.mark.parametrize(
    ("rates", "complaints", "bounces"),
    [
        (Rates(1000, 20, 0, 1), False, False),  # exactly at both limits
        (Rates(1000, 21, 0, 1), False, True),
        (Rates(1000, 0, 0, 2), True, False),
        (Rates(0, 0, 0, 0), False, False),
    ],
)
def test_limits(rates: Rates, complaints: bool, bounces: bool) -> None:
    assert (rates.too_many_complaints, rates.too_many_bounces) == (complaints, bounces)


def test_status_warns_about_an_issue_with_a_complaint(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0
    assert "warning: issue" not in invoke(run, "status").output
    settings = get_settings()
    stored = next(m for m in memory.outbox if m.message_id.startswith("<issue-"))
    to = stored.recipients[0]
    with session_scope(get_engine(settings)) as s:
        outcome = process_message(s, settings, arf(to, stored.message_id))
        assert outcome.unsubscribed == 1
        delivery = s.query(Delivery).filter(Delivery.email == to).one()
        issue_id = delivery.issue_id
        rates = issue_rates(s, issue_id)
        city_id = s.get(Issue, issue_id).campaign.city_id
        assert city_rates(s, city_id).complaints == 1
    assert rates.complaints == 1 and rates.sent >= 1 and rates.too_many_complaints
    status = invoke(run, "status").output
    assert f"warning: issue {issue_id}: complaints 1 (" in status
    shown = invoke(run, "bounces", "rates", str(issue_id)).output
    assert f"issue {issue_id}: sent {rates.sent}, hard bounces 0 (" in shown


@pytest.mark.parametrize(
    ("lang", "rates", "warning"),
    [
        ("fi", "(0,00 %)", "roskapostivalituksia 1 ("),
        ("sv", "(0,00 %)", "klagomål 1 ("),
        ("en", "(0.00 %)", "complaints 1 ("),
    ],
)
def test_rates_are_written_as_the_language_writes_them(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, lang: str, rates: str, warning: str
) -> None:
    assert invoke(run, "demo").exit_code == 0
    settings = get_settings()
    stored = next(m for m in memory.outbox if m.message_id.startswith("<issue-"))
    with session_scope(get_engine(settings)) as s:
        process_message(s, settings, arf(stored.recipients[0], stored.message_id))
        issue_id = s.query(Delivery).filter(Delivery.email == stored.recipients[0]).one().issue_id
        share = issue_rates(s, issue_id).complaint_rate
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    shown = invoke(run, "bounces", "rates", str(issue_id)).output
    complaint = f"{share * 100:.2f} %" if lang == "en" else f"{share * 100:.2f} %".replace(".", ",")
    assert rates in shown and f"({complaint})" in shown, shown
    assert "%)" not in shown.replace(" %)", ""), shown  # never "0.25%" glued
    status = invoke(run, "status").output
    assert f"{warning}{complaint})" in status, status


def test_receive_reads_one_message_from_stdin(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0
    stored = next(m for m in memory.outbox if m.message_id.startswith("<issue-"))
    report = arf(stored.recipients[0], stored.message_id)
    result = run.invoke(main, ["bounces", "receive"], input=report)
    assert result.exit_code == 0, result.output
    assert "events: 1," in result.output and "unsubscribed: 1" in result.output
    again = run.invoke(main, ["bounces", "receive"], input=report)
    assert "events: 0, already seen: 1," in again.output


def test_rates_take_an_issue_reference_like_every_issue_command(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0
    by_ref = invoke(run, "bounces", "rates", "vantaa-monthly/2026-12")
    assert by_ref.exit_code == 0, by_ref.output
    assert "sent 4," in by_ref.output


def test_receive_during_a_database_outage_is_one_line_and_asks_for_a_retry(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert invoke(run, "demo").exit_code == 0
    stored = next(m for m in memory.outbox if m.message_id.startswith("<issue-"))
    # a database server that does not answer (nothing listens on port 9)
    monkeypatch.setenv("OUTREACH_DATABASE_URL", "postgresql+psycopg://outreach@127.0.0.1:9/gone")
    get_settings.cache_clear()
    caplog.clear()
    report = arf(stored.recipients[0], stored.message_id)
    result = run.invoke(main, ["bounces", "receive"], input=report)
    assert result.exit_code == 75, result.output  # EX_TEMPFAIL: Postfix keeps the message
    failures = [r for r in caplog.records if r.name.startswith("outreach")]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].exc_info is None, "one line, not a traceback, for each retried message"
    assert "cannot reach the database" in failures[0].getMessage()
