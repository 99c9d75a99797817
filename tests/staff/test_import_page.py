"""The console's CSV import page says what the importer says: a refused file is the
importer's own line (what to fix, in the reader's language, naming the file as
uploaded) at the file field, with nothing written and the upload not kept; the
report after an import counts the confirmation mails that went out and those the
mail server did not take, and importing the same file again sends the missing ones.

The files are shaped like a Finnish CRM's contact export: Finnish headers, consent
as Excel writes a Finnish boolean (``TOSI``/``EPÄTOSI``), cp1252 and ``;``.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.models import AuditEvent, Subscriber, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.staff.support import Clock, csrf_of
from tests.staff.test_workflow import signed_in
from tests.subscriptions.test_import_mail import Sink, over_smtp, read_mails
from tests.subscriptions.test_import_mail import sink as sink  # the fixture
from tests.web.conftest import TestClient

NAME = "asiakasrekisteri_2026.csv"
NOTE = "asiakkuussuhde, messut 2026"
HEADER = ["Asiakasnro", "Sähköposti", "Yritys", "Y-tunnus", "Kieli", "Markkinointilupa"]


def crm(*rows: list[str], header: list[str] = HEADER) -> bytes:
    """A CRM export as Excel saves one on Finnish Windows: cp1252, ``;``, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("cp1252")


GOOD = [
    ["10001", "matti.virtanen@virtasen-kuljetus.fi", "Mäkisen Kuljetus Oy", "0112038-9",
     "suomi", "TOSI"],
    ["10002", "asa.lindqvist@lindqvist-bygg.fi", "Åkerlund Bygg Ab", "", "ruotsi", "TOSI"],
    ["10003", "paivi.hamalainen@hamalaisen-kahvila.fi", "Hämäläisen Kahvila Ky", "",
     "suomi", "EPÄTOSI"],
]  # fmt: skip


def utf8_with_cp1252(*lines: int) -> bytes:
    """A UTF-8 export whose data ``lines`` (2, 3, 4) someone saved again as cp1252."""
    rows = crm(*GOOD).decode("cp1252").splitlines(keepends=True)
    return b"".join(
        row.encode("cp1252" if number in lines else "utf-8")
        for number, row in enumerate(rows, start=1)
    )


OPEN_QUOTE = crm(GOOD[0]) + (
    '10002;asa.lindqvist@lindqvist-bygg.fi;"Åkerlund Bygg Ab;;ruotsi;TOSI\r\n'
    "10003;paivi.hamalainen@hamalaisen-kahvila.fi;Hämäläisen Kahvila Ky;;suomi;TOSI\r\n"
).encode("cp1252")
LONG_FIELD = crm(GOOD[0], ["10002", "liisa@pitka.fi", "P" * 140_000, "", "suomi", "TOSI"])

#: file → (fi, sv): the line the page shows at the file field, as the importer words it.
REFUSED = {
    "empty": (
        b"\r\n",
        f"{NAME} on tyhjä: vie yhteystiedot uudelleen",
        f"{NAME} är tom: exportera kontakterna på nytt",
    ),
    "no e-mail column": (
        crm(["10001", "Mäkisen Kuljetus Oy"], header=["Asiakasnro", "Yritys"]),
        f'{NAME}: sarakkeiden "Asiakasnro", "Yritys" joukossa ei ole sähköpostisaraketta; anna '
        "sähköpostisarakkeelle otsikkoriville nimi sähköposti tai email ja lataa tiedosto "
        "uudelleen",
        f'{NAME}: ingen e-postkolumn bland kolumnerna "Asiakasnro", "Yritys"; ge e-postkolumnen '
        "rubriken e-post eller email på rubrikraden och ladda upp filen igen",
    ),
    "a line of cp1252 in UTF-8": (
        utf8_with_cp1252(4),
        f"{NAME}: rivi 4 ei ole UTF-8-tekstiä kuten muu tiedosto",
        f"{NAME}: rad 4 är inte UTF-8-text som resten av filen",
    ),
    "lines of cp1252 in UTF-8": (
        utf8_with_cp1252(2, 4),
        f"{NAME}: 2 riviä ei ole UTF-8-tekstiä kuten muu tiedosto (rivit 2, 4:",
        f"{NAME}: 2 rader är inte UTF-8-text som resten av filen (raderna 2, 4:",
    ),
    "a quotation mark left open": (
        OPEN_QUOTE,
        f"{NAME}: rivi 3: sulkematon lainausmerkki",
        f"{NAME}: rad 3: ett citattecken som inte stängs",
    ),
    "a byte that is no text": (
        crm(GOOD[0]) + b"10002;liisa@firma.fi;Firma\x81 Oy;;suomi;TOSI\r\n",
        f"{NAME}: rivi 3: tavu 0x81",
        f"{NAME}: rad 3: byten 0x81",
    ),
    "UTF-16 that is not": (
        "\ufeffSähköposti\tYritys\r\n".encode("utf-16-le") + b"\x00\xd8",
        f"{NAME}: tiedosto alkaa kuin UTF-16-teksti",
        f"{NAME}: filen börjar som UTF-16-text",
    ),
    "a field over the CSV limit": (
        LONG_FIELD,
        "rivi 3: kenttä on yli 131072 merkkiä pitkä (jäikö lainausmerkki sulkematta?); mitään ei "
        "tallennettu: korjaa rivi 3 ja lataa tiedosto uudelleen",
        "rad 3: ett fält är längre än 131072 tecken",
    ),
}


def texts(html: str, xpath: str) -> list[str]:
    return [" ".join(e.text_content().split()) for e in lxml.html.fromstring(html).xpath(xpath)]


def uploads_kept(settings: Settings) -> list[str]:
    folder = Path(settings.var_dir) / "imports"
    return sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []


def nothing_written(engine: Engine) -> None:
    with Session(engine) as s:
        assert s.scalar(select(func.count(Subscriber.id))) == 0
        assert s.scalar(select(func.count(Subscription.id))) == 0
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "subscribers.import"))\
            is None  # fmt: skip


@pytest.mark.parametrize("lang", ["fi", "sv"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_file_is_the_importers_line_at_the_file_field_and_nothing_is_written(
    client: TestClient, engine: Engine, settings: Settings, case: str, lang: str
) -> None:
    data, fi, sv = REFUSED[case]
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = f"/staff/vantaa/subscribers/import?lang={lang}"
    token = csrf_of(client.get(page).text)
    answer = client.post(page, files={"file": (NAME, data, "text/csv")}, data={
        "csrf_token": token, "confirmed": "1", "consent_note": NOTE})  # fmt: skip
    assert answer.status_code == 422
    said = texts(answer.text, '//*[@id="i-file-err"]')
    assert len(said) == 1 and said[0].startswith(fi if lang == "fi" else sv), said
    assert said == texts(answer.text, '//*[@id="errors"]//a[@href="#i-file"]')
    assert "\n" not in said[0] and len(said[0]) < 400  # one line
    assert 'aria-invalid="true" aria-describedby="i-file-err"' in answer.text
    form = lxml.html.fromstring(answer.text)
    assert form.xpath('//input[@id="i-note"]/@value') == [NOTE]  # what was typed is kept
    assert form.xpath('//input[@id="i-confirmed"]/@checked')
    nothing_written(engine)
    assert uploads_kept(settings) == []  # the refused upload is not kept either


def test_utf16_tab_separated_text_previews_and_imports(client: TestClient, engine: Engine) -> None:
    """Excel's "Unicode text" (UTF-16 with BOM, tabs) is read as the command reads it."""
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = "/staff/vantaa/subscribers/import?lang=fi"
    token = csrf_of(client.get(page).text)
    text = "\r\n".join("\t".join(row) for row in [HEADER, *GOOD]) + "\r\n"
    data = "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")
    preview = client.post(page, data={"csrf_token": token, "confirmed": "1", "consent_note": NOTE},
                          files={"file": (NAME, data, "text/plain")})  # fmt: skip
    assert preview.status_code == 200
    counts = texts(preview.text, "//h2[@id='report']/following-sibling::ul[1]/li")
    assert counts[:3] == ["3 riviä luettu", "2 lisättävää", "0 päivitettävää"], counts
    assert "rivi 4: ohitettu" in preview.text  # EPÄTOSI: no consent
    nothing_written(engine)


@pytest.fixture
def mail_app(
    settings: Settings, engine: Engine, clock: Clock
) -> Iterator[Callable[[str], FastAPI]]:
    """Apps of ``settings`` with a mail URL of their own (their confirmation mails go
    where it says), all on one database."""
    limiter = RateLimiter({"form": (10_000, 100.0), "staff": (10_000, 100.0)})

    def make(mail_url: str) -> FastAPI:
        with_mail = settings.model_copy(update={"mail_url": mail_url})
        return create_app(with_mail, rate_limiter=limiter, clock=clock)

    yield make
    dispose_engines()


def import_file(app: FastAPI, engine: Engine, lang: str, data: bytes) -> str:
    """The page after importing ``data`` through the preview and its commit."""
    with TestClient(app, base_url="https://testserver") as client:
        signed_in(engine, client, f"toimittaja.{lang}@vantaa.fi", "editor", "vantaa")
        page = f"/staff/vantaa/subscribers/import?lang={lang}"
        token = csrf_of(client.get(page).text)
        preview = client.post(page, data={"csrf_token": token},
                              files={"file": (NAME, data, "text/csv")})  # fmt: skip
        assert preview.status_code == 200, preview.text
        upload = lxml.html.fromstring(preview.text).xpath('//input[@name="upload"]/@value')[0]
        done = client.post(f"/staff/vantaa/subscribers/import/commit?lang={lang}",
                           data={"csrf_token": token, "upload": upload})  # fmt: skip
        assert done.status_code == 200
        return done.text


def test_the_report_counts_mails_not_sent_and_the_same_file_again_sends_them(
    mail_app: Callable[[str], FastAPI],
    engine: Engine,
    settings: Settings,
    sink: Sink,
) -> None:
    data = crm(*GOOD)
    with socket.socket() as s:  # a port nothing listens on: the mail server is down
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    down = mail_app(f"smtp://127.0.0.1:{closed}?starttls=false")
    outage = import_file(down, engine, "fi", data)
    counts = texts(outage, "//h2[@id='report']/following-sibling::ul[1]/li")
    assert "2 lisätty" in counts
    assert "0 vahvistusviestiä lähetetty" in counts
    assert "2 vahvistusviestiä jäi lähettämättä" in counts
    assert texts(outage, '//*[@id="mail-failed"]')[0].startswith(
        "Postipalvelin ei ottanut näitä vahvistusviestejä vastaan; yhteystiedot jäävät odottamaan."
    )
    with Session(engine) as s:
        statuses = s.scalars(select(Subscription.status)).all()
        assert statuses == [SubscriptionStatus.PENDING] * 2
        detail = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "subscribers.import")).one()  # fmt: skip
        assert detail["file"] == NAME and detail["mail_failed"] == 2

    up = mail_app(over_smtp(settings, sink).mail_url)
    again = import_file(up, engine, "sv", data)
    counts = texts(again, "//h2[@id='report']/following-sibling::ul[1]/li")
    assert "2 oförändrade" in counts
    assert "2 bekräftelsemejl skickade" in counts
    assert "0 bekräftelsemejl kunde inte skickas" in counts
    assert not texts(again, '//*[@id="mail-failed"]')
    mails = read_mails(sink)
    assert sorted(mails) == sorted(row[1] for row in GOOD[:2])
    assert mails[GOOD[1][1]]["Content-Language"] == "sv"  # ruotsi

    third = import_file(up, engine, "fi", data)  # each has its mail: nothing more goes out
    assert "0 vahvistusviestiä lähetetty" in texts(
        third, "//h2[@id='report']/following-sibling::ul[1]/li"
    )
    assert len(sink.messages) == 2
    assert re.search(r"0 vahvistusviestiä jäi lähettämättä", third)


def test_an_import_stopped_at_a_line_keeps_and_audits_the_rows_before_it(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    """The preview read the file; the file kept for the commit (under ``var/imports``)
    is then not the one previewed: the import stops at its long line, the row before
    it is saved and audited, and the page says so in the console's words."""
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = "/staff/vantaa/subscribers/import?lang=fi"
    token = csrf_of(client.get(page).text)
    preview = client.post(page, data={"csrf_token": token, "confirmed": "1", "consent_note": NOTE},
                          files={"file": (NAME, crm(*GOOD), "text/csv")})  # fmt: skip
    upload = lxml.html.fromstring(preview.text).xpath('//input[@name="upload"]/@value')[0]
    (Path(settings.var_dir) / "imports" / f"{upload}.csv").write_bytes(LONG_FIELD)
    done = client.post("/staff/vantaa/subscribers/import/commit?lang=fi",
                       data={"csrf_token": token, "upload": upload})  # fmt: skip
    assert done.status_code == 400
    said = texts(done.text, '//p[@role="alert"]')
    assert said == [
        "rivi 3: kenttä on yli 131072 merkkiä pitkä (jäikö lainausmerkki sulkematta?); sitä "
        "edeltäviä rivejä tallennettiin: 1. Korjaa rivi 3 ja tuo tiedosto uudelleen: "
        "tallennetut rivit pysyvät ennallaan"
    ]
    assert "1 lisätty" in texts(done.text, "//h2[@id='report']/following-sibling::ul[1]/li")
    with Session(engine) as s:
        assert s.scalars(select(Subscriber.email)).all() == [GOOD[0][1]]
        detail = s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "subscribers.import")).one()  # fmt: skip
    assert (detail["file"], detail["imported"], detail["stopped_at_line"]) == (NAME, 1, 3)
    assert uploads_kept(settings) == []


@pytest.mark.parametrize(
    ("lang", "several", "one"),
    [
        (
            "sv",
            ["3 rader lästa", "2 tillagda", "0 uppdaterade", "0 oförändrade", "1 överhoppad",
             "0 fält utelämnade"],
            ["4 rader lästa", "1 tillagd", "1 uppdaterad", "1 oförändrad", "1 överhoppad",
             "1 fält utelämnat"],
        ),
        (
            "fi",
            ["3 riviä luettu", "2 lisätty", "0 päivitetty", "0 ennallaan", "1 ohitettu",
             "0 kenttää jätetty pois"],
            ["4 riviä luettu", "1 lisätty", "1 päivitetty", "1 ennallaan", "1 ohitettu",
             "1 kenttä jätetty pois"],
        ),
        (
            "en",
            ["3 rows read", "2 added", "0 updated", "0 unchanged", "1 skipped",
             "0 fields left out"],
            ["4 rows read", "1 added", "1 updated", "1 unchanged", "1 skipped",
             "1 field left out"],
        ),
    ],
)  # fmt: skip
def test_the_reports_counts_take_the_form_of_their_number(
    client: TestClient, engine: Engine, lang: str, several: list[str], one: list[str]
) -> None:
    """Several added, then one of each: each count's word agrees with its number."""
    signed_in(engine, client, "toimittaja@vantaa.fi", "editor", "vantaa")
    page = f"/staff/vantaa/subscribers/import?lang={lang}"
    token = csrf_of(client.get(page).text)
    moved = [*GOOD[1][:2], "Åkerlund Bygg Abp", *GOOD[1][3:]]  # another company name
    new = ["10004", "uusi@uusi-yritys.fi", "Uusi Yritys Oy", "123", "suomi", "TOSI"]
    shown = []
    for rows in ([*GOOD], [GOOD[0], moved, new, GOOD[2]]):
        form = {"csrf_token": token, "confirmed": "1", "consent_note": NOTE}
        preview = client.post(page, data=form, files={"file": (NAME, crm(*rows), "text/csv")})
        upload = lxml.html.fromstring(preview.text).xpath('//input[@name="upload"]/@value')[0]
        done = client.post(f"/staff/vantaa/subscribers/import/commit?lang={lang}",
                           data={"csrf_token": token, "upload": upload})  # fmt: skip
        assert done.status_code == 200, done.text
        shown.append(texts(done.text, "//h2[@id='report']/following-sibling::ul[1]/li")[:6])
    assert shown == [several, one]
