"""The message catalogs: every entry well formed, every msgid once per file; every
catalog declares its plural forms and every plural entry has them all."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from outreach.l10n import LOCALE_DIR, ngettext_for, place_gettext, places_kind

CATALOGS = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_a_catalog_reads_without_a_fault_and_names_each_message_once(path: Path) -> None:
    with path.open("rb") as fh:  # a msgid without its msgstr, a stray line: an error
        read_po(fh, abort_invalid=True)
    text = path.read_text(encoding="utf-8")
    entries = re.split(r"\n\s*\n", text.strip())
    ids = [_key(entry) for entry in entries]
    doubled = sorted({i for i in ids if i and ids.count(i) > 1})
    assert doubled == [], f"{path}: messages given twice (the second is ignored): {doubled}"


def _key(entry: str) -> str:
    """An entry's msgctxt and msgid lines (everything before its msgstr)."""
    lines = [line for line in entry.splitlines() if not line.startswith("#")]
    head = []
    for line in lines:
        if line.startswith("msgstr"):
            break
        head.append(line)
    return "\n".join(head)


def test_there_are_catalogs() -> None:
    assert {p.parts[-3] for p in CATALOGS} == {"en", "fi", "sv"}


PLURAL_FORMS = re.compile(r"^Plural-Forms:\s*nplurals=(\d+);\s*plural=([^;]+);?\s*$", re.M)


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=path.parts[-3], domain=path.stem)


def _header(path: Path) -> str:
    entry = re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip())[0]
    return "".join(re.findall(r'^"(.*)"$', entry, re.M)).replace("\\n", "\n")


def _fields(text: str) -> set[str]:
    """The placeholders of a message: ``{n}`` and ``%(count)s``."""
    braces = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    return braces | set(re.findall(r"%\((\w+)\)", text))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_a_catalog_declares_its_plural_forms(path: Path) -> None:
    found = PLURAL_FORMS.search(_header(path))
    assert found, f"{path}: no Plural-Forms header with nplurals"
    assert (int(found[1]), found[2].strip()) == (2, "(n != 1)")  # fi, sv and en alike
    assert _catalog(path).num_plurals == 2


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_plural_entry_has_all_its_forms_with_their_placeholders(path: Path) -> None:
    catalog = _catalog(path)
    wrong = {}
    for message in catalog:
        if not message.id or not message.pluralizable:
            continue
        forms = tuple(message.string)
        singular, plural = message.id[0], message.id[1]
        if (
            len(forms) != catalog.num_plurals
            or not all(forms)
            or any(_fields(form) != _fields(plural) for form in forms)
            or _fields(singular) != _fields(plural)
        ):
            wrong[singular] = forms
    assert wrong == {}, f"{path}: plural entries lacking a form or a placeholder"


@pytest.mark.parametrize("domain", sorted({p.stem for p in CATALOGS}))
def test_a_plural_entry_is_one_in_every_language(domain: str) -> None:
    def plurals(lang: str) -> set[tuple[str, str]]:
        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
        if not path.exists():
            return set()
        return {(m.id[0], m.id[1]) for m in _catalog(path) if m.id and m.pluralizable}

    assert plurals("fi") == plurals("sv") == plurals("en")


def test_there_are_plural_entries() -> None:
    assert ("{n} city", "{n} cities") in {
        (m.id[0], m.id[1]) for m in _catalog(LOCALE_DIR / "fi/LC_MESSAGES/cli.po") if m.pluralizable
    }


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "1 kaupunki", "2 kaupunkia"),
        ("sv", "1 stad", "2 städer"),
        ("en", "1 city", "2 cities"),
    ],
)
def test_a_message_with_a_count_takes_the_form_of_its_number(lang: str, one: str, two: str) -> None:
    forms = [ngettext_for(lang, "cli", "{n} city", "{n} cities", n).format(n=n) for n in (1, 2)]
    assert forms == [one, two]
    zero = ngettext_for(lang, "cli", "{n} city", "{n} cities", 0).format(n=0)
    assert zero == two.replace("2", "0")


#: Swedish words for a thing that has another word everywhere else: a section is
#: "avsnitt", an item "post" (not "ett innehåll"), the audit log "händelselogg" (its
#: name in the console).
OTHER_SWEDISH_WORDS = re.compile(
    r"sektion|\bpunkt(en|er|erna)?\b|\binslag\b|granskningslogg|\bett innehåll\b",
    re.IGNORECASE,
)


def test_the_swedish_catalogs_name_each_thing_with_one_word() -> None:
    found = []
    for path in sorted(LOCALE_DIR.glob("sv/LC_MESSAGES/*.po")):
        for message in _catalog(path):
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            found += [f"{path.name}: {t}" for t in texts if t and OTHER_SWEDISH_WORDS.search(t)]
    assert found == []


def test_a_swedish_example_is_introduced_with_t_ex() -> None:
    """An example reads "t.ex. namn@foretag.fi", as the public form says it, not
    "som namn@…" (a calque of "like" and "kuten")."""
    calque = re.compile(r"\bsom (namn@|\d)")
    found = []
    for path in sorted(LOCALE_DIR.glob("sv/LC_MESSAGES/*.po")):
        for message in _catalog(path):
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            found += [f"{path.name}: {t}" for t in texts if t and calque.search(t)]
    assert found == []


#: ``_k(kind, "message")`` in the page and mail templates: a text that names the place.
PLACE_CALL = re.compile(r'_k\(([\w. ]+),\s*"((?:[^"\\]|\\.)*)"')
TEMPLATES = {
    "web": sorted((LOCALE_DIR.parent / "web" / "templates").glob("*.html")),
    "email": sorted((LOCALE_DIR.parents[1] / "templates" / "email").glob("*.*")),
}


def _place_calls(domain: str) -> set[tuple[str, str]]:
    """(kind expression, msgid) of every ``_k`` call in ``domain``'s templates."""
    return {
        (kind.strip(), msgid)
        for path in TEMPLATES[domain]
        for kind, msgid in PLACE_CALL.findall(path.read_text(encoding="utf-8"))
    }


def _contexts(lang: str, domain: str) -> dict[tuple[str, str], str]:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
    return {(m.context, m.id): m.string for m in _catalog(path) if m.id and m.context}


@pytest.mark.parametrize("domain", sorted(TEMPLATES))
@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_every_text_naming_the_place_has_a_municipality_s_wording(domain: str, lang: str) -> None:
    """Without its ``municipality`` entry a text would call a municipality a city (and
    a list of places without its ``mixed`` one); ``en`` too, the msgid being the city's."""
    calls = _place_calls(domain)
    assert calls, f"no _k( in the {domain} templates"
    entries = _contexts(lang, domain)
    needed = {("municipality", msgid) for _, msgid in calls}
    needed |= {("mixed", msgid) for kind, msgid in calls if "places_kind" in kind}
    if domain == "web":  # the story form's error, shown by ``_k(places_kind, message)``
        needed |= {("municipality", "Choose a city."), ("mixed", "Choose a city.")}
    missing = sorted(key for key in needed if not entries.get(key))
    assert missing == [], f"{lang}/{domain}.po lacks these place wordings"
    # and no entry is left behind by a text that no longer names the place
    assert sorted(set(entries) - needed) == []


def test_the_places_of_a_page_are_worded_by_their_mix() -> None:
    assert [places_kind(k) for k in ([], ["city"], ["municipality"] * 2)] == [
        "city",
        "city",
        "municipality",
    ]
    assert places_kind(["city", "municipality"]) == "mixed"
    choose = {
        kind: [place_gettext(lang, "web", kind, "Choose a city") for lang in ("fi", "sv", "en")]
        for kind in ("city", "municipality", "mixed")
    }
    assert choose == {
        "city": ["Valitse kaupunki", "Välj en stad", "Choose a city"],
        "municipality": ["Valitse kunta", "Välj en kommun", "Choose a municipality"],
        "mixed": [
            "Valitse kaupunki tai kunta",
            "Välj en stad eller kommun",
            "Choose a city or municipality",
        ],
    }
    # a text with no wording of its own for a municipality is the plain one
    assert place_gettext("fi", "web", "municipality", "Save") == "Tallenna"
