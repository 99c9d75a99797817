"""The staff command line, in process: issue commands on the demo's database."""

from __future__ import annotations

import email
import email.policy
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from outreach import cli
from outreach.cli import main
from outreach.cli.base import COMMANDS
from outreach.db import dispose_engines
from outreach.delivery.backends import memory
from outreach.settings import get_settings
from tests.conftest import ROOT


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    # The demo's database is ``var/outreach.db`` under the working directory: an
    # engine cached for that relative address by an earlier test would still write
    # to that test's file.
    dispose_engines()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(ROOT / "campaigns"))
    monkeypatch.setenv("OUTREACH_TEMPLATES_DIR", str(ROOT / "templates"))
    monkeypatch.setenv("OUTREACH_MAIL_URL", "memory:")
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "cli-test-secret-0123456789abcdef0123456789")
    monkeypatch.setenv("LANG", "C.UTF-8")
    # the examples link to the cities' real sites, which tests cannot reach
    monkeypatch.setenv("OUTREACH_CHECK_LINK_SECONDS", "0")
    get_settings.cache_clear()
    memory.clear()
    yield CliRunner()
    dispose_engines()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_issue_commands_on_the_demo(run: CliRunner) -> None:
    demo = invoke(run, "demo")
    assert demo.exit_code == 0, demo.output
    sent = len(memory.outbox)
    assert sent == 8  # the example subscribers of the three cities

    listing = invoke(run, "issue", "list")
    assert listing.exit_code == 0
    assert "vantaa-monthly" in listing.output and "sent 4" in listing.output

    show = invoke(run, "issue", "show", "vantaa-monthly/2026-12")
    assert "approved" in show.output and "by demo" in show.output
    assert "sent" in show.output and "4" in show.output

    text = invoke(run, "issue", "preview", "vantaa-monthly/2026-12", "--lang", "sv", "--text")
    assert text.exit_code == 0
    assert "Stadens klimatarbete" in text.output and "<" not in text.output.split("\n")[0]

    out = Path("preview.html")
    html = invoke(run, "issue", "preview", "kerava-monthly/2026-12", "--out", str(out))
    assert html.exit_code == 0 and out.read_text().lstrip().lower().startswith("<!doctype html")

    rebuilt = invoke(run, "issue", "build", "kerava-monthly", "--period", "2026-12")
    assert rebuilt.exit_code == 0 and "Kept" in rebuilt.output

    test_send = invoke(
        run, "issue", "send", "kerava-monthly/2026-12", "--test-to", "staff@kerava.fi"
    )
    assert test_send.exit_code == 0, test_send.output
    assert len(memory.outbox) == sent + 1
    test_msg = email.message_from_bytes(memory.outbox[-1].data, policy=email.policy.default)
    assert str(test_msg["Subject"]).startswith("[TEST] ")
    refused = run.invoke(
        main, ["issue", "send", "kerava-monthly/2026-12", "--test-to", "not an address"]
    )
    assert refused.exit_code == 1, "a test copy that did not go out is a failure"
    assert "not an address" in refused.output and len(memory.outbox) == sent + 1
    again = run.invoke(main, ["issue", "send", "kerava-monthly/2026-12"])
    assert again.exit_code == 1 and "only an approved issue can be sent" in again.output
    assert len(memory.outbox) == sent + 1, "a sent issue must not go out again"

    stories = invoke(run, "stories", "list", "--city", "vantaa")
    assert "approved" in stories.output and "(no consent to publish)" in stories.output


def test_a_campaign_whose_file_is_broken_is_named_as_left_out_not_unknown(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "campaigns"
    shutil.copytree(ROOT / "campaigns", folder)
    (folder / "kerava-monthly.yaml").write_text("slug: kerava-monthly\nkind: [\n")
    monkeypatch.setenv("OUTREACH_CAMPAIGNS_DIR", str(folder))
    get_settings.cache_clear()
    assert invoke(run, "db", "upgrade").exit_code == 0
    result = run.invoke(main, ["issue", "build", "kerava-monthly"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(
        f'Error: campaign "kerava-monthly" is left out until its file is fixed: '
        f"{folder / 'kerava-monthly.yaml'}: "
    ), result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("issue", "show", "999"), "999"),
        (("issue", "build", "no-such-campaign"), 'no campaign "no-such-campaign"'),
        (("issue", "preview", "kerava-monthly/2026-12", "--lang", "sv"), "sv"),
        (("subscribers", "add", "not-an-address", "--city", "kerava"), "address"),
        (
            ("issue", "send", "kerava-monthly/2026-12", "--test-to", "a@kerava.fi", "--lang", "de"),
            "de",
        ),
        (("bounces", "rates", "999"), "999"),
    ],
)
def test_user_errors_are_one_line_exit_1(
    run: CliRunner, args: tuple[str, ...], expected: str
) -> None:
    assert invoke(run, "demo").exit_code == 0
    result = run.invoke(main, list(args))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.output


def test_an_out_file_that_cannot_be_written_is_one_line_exit_1(
    run: CliRunner, tmp_path: Path
) -> None:
    assert invoke(run, "demo").exit_code == 0
    imported = invoke(run, "campaigns", "import", str(ROOT / "campaigns" / "kerava-monthly.yaml"))
    assert imported.exit_code == 0, imported.output
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    missing = tmp_path / "nonexistent" / "dir"
    cases = {
        ("subscribers", "export", "--city", "vantaa", "--purpose", "crm", "--out",
         str(missing / "x.csv")): f"the folder {missing} does not exist",
        ("issue", "preview", "kerava-monthly/2026-12", "--out",
         str(missing / "x.html")): f"the folder {missing} does not exist",
        ("issue", "preview", "kerava-monthly/2026-12", "--out", str(blocker / "x.html")):
            f"{blocker} is not a folder",
        ("campaigns", "export", "kerava-monthly", "--out", str(blocker)): "cannot write the file",
    }  # fmt: skip
    for args, expected in cases.items():
        result = run.invoke(main, list(args))
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and expected in lines[0], result.output


def _fresh_link(title: str) -> None:
    """A new Kerava procurement link in the demo's database (links have no time window)."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from outreach.campaigns import load
    from outreach.db import get_engine
    from tests.render.conftest import add_item

    settings = get_settings()
    config = load(settings.campaigns_path, settings.templates_path)
    engine = get_engine(settings)  # the commands' own engine (cached per URL)
    with Session(engine) as session:
        add_item(
            session, config, "kerava-monthly", "procurement", title=title, language="fi",
            first_seen_at=datetime(2026, 11, 20, tzinfo=UTC),
        )  # fmt: skip
        session.commit()


def test_issue_list_has_headers_and_show_tells_everything(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0
    listing = invoke(run, "issue", "list").output.splitlines()
    assert listing[0].split() == ["id", "campaign", "period", "status", "deliveries"]

    show = invoke(run, "issue", "show", "vantaa-monthly/2026-12").output
    assert "subject (fi): Vantaan yritysten ilmastouutiset joulukuu 2026" in show
    assert "subject (sv): Klimatnytt för företag i Vanda december 2026" in show
    assert "approved Tue 1.12.2026 at 9:00 by demo" in show  # Helsinki time, not UTC
    assert "audience: 4 recipients (fi 2, sv 2)" in show
    # the example calendar's cancelled webinar is not announced
    assert "fi: 12 items (Kaupungin ilmastotyö 4, Koulutukset ja webinaarit 6," in show
    assert "history:" in show and "send started by demo, with `issue send`" in show

    get_settings.cache_clear()
    finnish = run.invoke(
        main, ["issue", "show", "vantaa-monthly/2026-12"], env={"OUTREACH_CLI_LANGUAGE": "fi"}
    ).output
    get_settings.cache_clear()
    assert "hyväksytty ti 1.12.2026 klo 9.00, hyväksyjä demo" in finnish
    assert "vastaanottajia: 4 (fi 2, sv 2)" in finnish


def test_discard_a_draft_and_send_by_hand(run: CliRunner) -> None:
    assert invoke(run, "demo").exit_code == 0
    _fresh_link("Markkinavuoropuhelu: sähköautojen lataus")
    built = invoke(run, "issue", "build", "kerava-monthly", "--period", "2027-02")
    # the fresh news item, and the upcoming events December's issue listed, listed again
    taken = re.search(r"with (\d+) items", built.output)
    assert built.exit_code == 0 and taken is not None, built.output
    items = int(taken.group(1))
    assert items >= 1
    show = invoke(run, "issue", "show", "kerava-monthly/2027-02").output
    assert "audience if sent now: 2 recipients (fi 2)" in show, show

    discarded = invoke(run, "issue", "discard", "kerava-monthly/2027-02", "--by", "maija")
    assert discarded.exit_code == 0
    assert f"discarded; {items} items are free for the next build" in discarded.output
    show = invoke(run, "issue", "show", "kerava-monthly/2027-02").output
    assert "[discarded]" in show and f"discarded by maija ({items} items released)" in show

    refused = run.invoke(main, ["issue", "discard", "kerava-monthly/2026-12"])
    assert refused.exit_code == 1
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "is sent; only a draft can be discarded" in lines[0]

    right = invoke(run, "issue", "build", "kerava-monthly", "--period", "2027-01")
    assert f"with {items} items" in right.output, right.output
    approved = invoke(run, "issue", "approve", "kerava-monthly/2027-01")
    assert approved.exit_code == 0, approved.output
    sent = invoke(run, "issue", "send", "kerava-monthly/2027-01")
    assert sent.exit_code == 0, sent.output
    status_lines = invoke(run, "status").output
    assert "sends started in the last 30 days: " in status_lines
    assert "(sent, started by hand)" in status_lines


def test_send_options_that_would_be_ignored_are_one_line_errors(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--lang`` chooses a test copy's language: without ``--test-to`` it would be
    ignored and the whole issue go to every subscriber. ``--test-to`` sends at
    once: with it, ``--dry-run`` would be ignored. Each is a one-line error in
    the staff's language, before anything is sent."""
    assert invoke(run, "demo").exit_code == 0
    _fresh_link("Markkinavuoropuhelu: sähköautojen lataus")
    assert invoke(run, "issue", "build", "kerava-monthly", "--period", "2027-03").exit_code == 0
    approved = invoke(run, "issue", "approve", "kerava-monthly/2027-03")
    assert approved.exit_code == 0, approved.output
    ref = "kerava-monthly/2027-03"
    sent = len(memory.outbox)

    def refused(*args: str) -> str:
        result = run.invoke(main, ["issue", "send", ref, *args])
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert len(memory.outbox) == sent, "nothing may be sent"
        return lines[0]

    for args in (
        ("--lang", "fi"),
        ("--lang", "fi", "--workers", "2"),
        ("--dry-run", "--lang", "fi"),
    ):
        line = refused(*args)
        assert line.startswith("Error: --lang fi is the language of a test copy"), line
        assert "needs --test-to EMAIL" in line and "leave out --lang" in line
    line = refused("--dry-run", "--test-to", "staff@kerava.fi", "--lang", "fi")
    assert line.startswith("Error: --dry-run and --test-to do not go together"), line
    assert refused("--dry-run", "--test-to", "staff@kerava.fi").startswith("Error: --dry-run and")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    assert refused("--lang", "sv").startswith("Virhe: --lang sv on testikopion kieli")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "sv")
    get_settings.cache_clear()
    assert refused("--lang", "sv").startswith("Fel: --lang sv är språket för en testkopia")
    monkeypatch.delenv("OUTREACH_CLI_LANGUAGE")
    get_settings.cache_clear()
    show = invoke(run, "issue", "show", ref).output
    assert "approved" in show and "sending" not in show, show  # the send never started

    test_copy = invoke(run, "issue", "send", ref, "--test-to", "staff@kerava.fi", "--lang", "fi")
    assert test_copy.exit_code == 0, test_copy.output
    assert len(memory.outbox) == sent + 1 and memory.outbox[-1].recipients == ["staff@kerava.fi"]
    dry = invoke(run, "issue", "send", ref, "--dry-run")
    assert dry.exit_code == 0 and "would send 2," in dry.output, dry.output
    assert len(memory.outbox) == sent + 1
    whole = invoke(run, "issue", "send", ref)
    assert whole.exit_code == 0 and len(memory.outbox) == sent + 3, whole.output


def test_issue_check_reports_in_the_staffs_language_and_exits_1_on_errors(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(run, "demo").exit_code == 0
    clean = invoke(run, "issue", "check", "kerava-monthly/2026-12")
    assert clean.exit_code == 0, clean.output
    assert "0 errors" in clean.output
    assert "Skipped: links: turned off (OUTREACH_CHECK_LINK_SECONDS is 0)" in clean.output
    # with links checked, the examples' real sites cannot be resolved here: errors
    monkeypatch.setenv("OUTREACH_CHECK_LINK_SECONDS", "10")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "fi")
    get_settings.cache_clear()
    dead = run.invoke(main, ["issue", "check", "kerava-monthly/2026-12"])
    assert dead.exit_code == 1, dead.output
    assert "Suomenkielinen versio:" in dead.output
    assert re.search(r"\n[1-9]\d* virhe(ttä)?, \d+ varoitus(ta)?\n", dead.output), dead.output
    assert "Traceback" not in dead.output


def test_stories_translate_writes_and_removes_a_translation(run: CliRunner, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from outreach.db import dispose_engines
    from outreach.models import AuditEvent, Story

    dispose_engines()  # the database is var/ of this test's folder, not an earlier test's
    assert invoke(run, "db", "upgrade").exit_code == 0
    source = tmp_path / "story.md"
    source.write_text("---\ncompany: Aurinko Oy\ntitle: Aurinkoa\nconsent: true\n---\nTeksti.\n")
    added = invoke(run, "stories", "add", str(source), "--city", "vantaa")
    assert added.exit_code == 0, added.output
    story_id = re.findall(r"\d+", added.output)[0]
    body = tmp_path / "sv.md"
    body.write_text("Vi satte **paneler**.\n")
    args = ["stories", "translate", story_id, "--lang", "sv", "--by", "toimittaja@vantaa.fi"]
    done = invoke(run, *args, "--title", "Solen", "--body-file", str(body))
    assert done.exit_code == 0 and "saved" in done.output, done.output
    same = invoke(run, *args, "--title", "Solen", "--body-file", str(body))
    assert "as it was" in same.output
    own = run.invoke(main, ["stories", "translate", story_id, "--lang", "fi", "--title", "x",
                            "--body-file", str(body)])  # fmt: skip
    assert own.exit_code == 1 and "translate it into another language" in own.output
    half = run.invoke(main, [*args, "--title", "Solen"])
    assert half.exit_code == 1 and "--body-file" in half.output
    assert len(half.output.strip().splitlines()) == 1
    engine = create_engine(get_settings().database_url)
    with Session(engine) as s:
        assert s.scalars(select(Story.translations)).one() == {
            "sv": {"title": "Solen", "body": "Vi satte **paneler**."}
        }
    removed = invoke(run, *args, "--remove")
    assert removed.exit_code == 0 and "removed" in removed.output
    with Session(engine) as s:
        assert s.scalars(select(Story.translations)).one() == {}
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        actors = set(s.scalars(select(AuditEvent.actor)))
    engine.dispose()
    dispose_engines()
    assert actions == ["story.translate", "story.untranslate"]
    assert actors == {"toimittaja@vantaa.fi"}


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)


def test_every_command_is_named_with_the_modules_that_add_it() -> None:
    """A command's modules are imported when it is named (``base.COMMANDS``): the map
    must hold every command and every module that adds to it, or in a fresh process
    the command (or one of its subcommands) would be missing."""
    for found in pkgutil.iter_modules(cli.__path__):
        importlib.import_module(f"outreach.cli.{found.name}")
    assert sorted(main.commands) == sorted(COMMANDS)
    for name, command in main.commands.items():
        modules = {f"outreach.cli.{module}" for module in COMMANDS[name]}
        for each in _walk(command):
            assert each.callback is not None and each.callback.__module__ in modules, (
                f"outreach {name}: {each.name} is added by {each.callback.__module__}"
            )


def test_a_command_loads_only_its_own_stages() -> None:
    """``outreach subscribers import`` (in a fresh process) imports neither the staff
    console, the web app nor the daemon."""
    code = (
        "import sys\n"
        "from outreach.cli import main\n"
        "main(['subscribers', 'import', '--help'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[1:2] in "
        "(['staff'], ['web'], ['scheduler']) and m.startswith('outreach.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--city" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("command", [("issue", "list"), ("subscribers", "list"), ("status",)])
def test_a_database_never_migrated_is_one_line_naming_the_upgrade(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{tmp_path}/never-migrated.db")
    get_settings.cache_clear()
    result = run.invoke(main, list(command))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        result.output.strip()
    ] and result.output.startswith(
        f"Error: the database {tmp_path}/never-migrated.db has no outreach tables yet ("
    ), result.output
    assert "run `outreach db upgrade`" in result.output


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "Error: the database {db} has no outreach tables yet ("),
        ("fi", "Virhe: tietokannassa {db} ei ole vielä outreachin tauluja ("),
        ("sv", "Fel: databasen {db} har inga outreach-tabeller än ("),
    ],
)
def test_a_command_run_from_another_folder_names_the_database_it_found_empty(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, expected: str
) -> None:
    # the default sqlite:///var/outreach.db is relative: from another folder it is
    # another, empty file, and the line says which
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTREACH_DATABASE_URL", raising=False)
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()
    result = run.invoke(main, ["issue", "list"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(expected.format(db=tmp_path / "var" / "outreach.db"))
    assert result.output.rstrip().endswith("`outreach db upgrade`")


def test_a_database_that_cannot_be_reached_is_named_without_its_password(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://outreach:s3cret@127.0.0.1:9/gone"  # nothing listens on 9
    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    get_settings.cache_clear()
    result = run.invoke(main, ["status"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(
        "Error: cannot reach the database postgresql+psycopg://outreach:***@127.0.0.1:9/gone: "
    ), result.output
    assert "s3cret" not in result.output


def test_issue_build_with_nothing_new_says_so_in_the_cli_language(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No English log line ("no new items, so no issue (when_empty: skip)") in Swedish."""
    dispose_engines()  # the database is var/ of this test's folder, not an earlier test's
    assert invoke(run, "db", "upgrade").exit_code == 0
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "sv")
    get_settings.cache_clear()
    built = invoke(run, "issue", "build", "kerava-monthly", "--period", "2026-12")
    assert built.exit_code == 0, built.output
    assert built.output.strip() == "Inget nummer sammanställdes: inget nytt"
