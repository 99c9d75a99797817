"""click's own usage errors in the staff's language (``outreach.cli.click_l10n``)."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from outreach.cli import click_l10n, main
from outreach.l10n import LOCALE_DIR
from tests.conftest import ROOT
from tests.test_cli import invoke
from tests.test_cli import run as run  # the fixture

LOCALES = {"fi": "fi_FI.UTF-8", "sv": "sv_FI.UTF-8", "en": "C.UTF-8"}

USAGE = {
    ("subscribers", "add", "foo"): {
        "fi": [
            "Käyttö: outreach subscribers add [OPTIONS] EMAIL",
            "Katso ohje: 'outreach subscribers add --help'.",
            "",
            "Virhe: Puuttuva valitsin '--city'.",
        ],
        "sv": [
            "Användning: outreach subscribers add [OPTIONS] EMAIL",
            "Se hjälpen: 'outreach subscribers add --help'.",
            "",
            "Fel: Saknat alternativ '--city'.",
        ],
        "en": [
            "Usage: outreach subscribers add [OPTIONS] EMAIL",
            "Try 'outreach subscribers add --help' for help.",
            "",
            "Error: Missing option '--city'.",
        ],
    },
    ("issue", "sendd", "1"): {
        "fi": ["Virhe: Komentoa 'sendd' ei ole. Tarkoititko 'send'?"],
        "sv": ["Fel: Kommandot 'sendd' finns inte. Menade du 'send'?"],
        "en": ["Error: No such command 'sendd'. Did you mean 'send'?"],
    },
    ("issue", "send", "1", "--bogus"): {
        "fi": ["Virhe: Valitsinta '--bogus' ei ole."],
        "sv": ["Fel: Alternativet '--bogus' finns inte."],
        "en": ["Error: No such option '--bogus'."],
    },
    ("stories", "list", "--status", "nosuch"): {
        "fi": ["Virhe: Virheellinen arvo kohdassa '--status': 'nosuch' ei ole mikään näistä: "],
        "sv": ["Fel: Ogiltigt värde för '--status': 'nosuch' är inte något av "],
        "en": ["Error: Invalid value for '--status': 'nosuch' is not one of "],
    },
    ("bounces", "listen", "--port", "x"): {
        "fi": [
            "Virhe: Virheellinen arvo kohdassa '--port': 'x' ei ole kelvollinen luku (integer)."
        ],
        "sv": ["Fel: Ogiltigt värde för '--port': 'x' är inget giltigt tal (integer)."],
        "en": ["Error: Invalid value for '--port': 'x' is not a valid integer."],
    },
    ("issue", "list", "extra"): {
        "fi": ["Virhe: Ylimääräinen argumentti (extra)"],
        "sv": ["Fel: Oväntat extra argument (extra)"],
        "en": ["Error: Got unexpected extra argument (extra)"],
    },
}


def speak(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", LOCALES[lang])


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_usage_error_is_told_in_the_staff_language(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    assert invoke(run, "db", "upgrade").exit_code == 0
    speak(monkeypatch, lang)
    for args, expected in USAGE.items():
        result = run.invoke(main, list(args), prog_name="outreach")
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        if len(expected[lang]) > 1:
            assert lines == expected[lang], (args, result.output)
        else:
            assert lines[-1].startswith(expected[lang][0]), (args, result.output)


def test_the_staff_setting_comes_before_the_locale(
    run: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    speak(monkeypatch, "fi")
    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", "sv")
    result = run.invoke(main, ["subscribers", "add", "foo"], prog_name="outreach")
    assert result.output.strip().splitlines()[-1] == "Fel: Saknat alternativ '--city'."


def test_the_command_itself_tells_it_in_swedish(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTREACH_", "LC_"))}
    env |= {
        "OUTREACH_SECRET_KEY": "x" * 40,
        "OUTREACH_CONFIG": os.devnull,
        "PYTHONPATH": str(ROOT),
        "LANG": "sv_FI.UTF-8",
    }
    result = subprocess.run(
        [sys.executable, "-m", "outreach", "subscribers", "add", "foo"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("Användning: ") and lines[1].startswith("Se hjälpen: ")
    assert lines[-1] == "Fel: Saknat alternativ '--city'.", result.stderr


def _click_msgids() -> set[str]:
    """The literal messages click's modules pass to ``_`` and ``ngettext``."""
    found: set[str] = set()
    for module in click_l10n.MODULES:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            count = {"_": 1, "ngettext": 2}.get(node.func.id, 0)
            for arg in node.args[:count]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_every_message_of_the_catalog_is_one_click_still_uses(lang: str) -> None:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "click.po").open("rb") as fh:
        catalog = {str(m.id): str(m.string) for m in read_po(fh, locale=lang) if m.id}
    assert set(catalog) - _click_msgids() == set(), "click changed these msgids"
    assert all(catalog.values())
