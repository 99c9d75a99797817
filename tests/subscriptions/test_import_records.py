"""What an import writes, row by row, on SQLite and PostgreSQL.

However the import batches its writes, every subscription it creates or
confirms must carry the same consent records as one written by the stage's
own single-row functions: the version, the exact consent text in the
contact's language, the file and note, the time; and every confirmation link
it mails must confirm the subscription it names.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.errors import DeliveryError
from outreach.models import ConsentRecord, Subscriber, Subscription, SubscriptionStatus
from outreach.settings import Settings
from outreach.subscriptions import (
    CONSENT_VERSION,
    ConfirmationMail,
    RecordingMailer,
    SignUp,
    add_subscriber,
    city_name,
    confirm,
    consent_text,
    import_csv,
    token_for,
    unsubscribe_email,
    update_preferences,
)

LANGS = ("fi", "sv", "en")
LANG_WORDS = {"fi": "suomi", "sv": "svenska", "en": "englanti"}
TOPICS = ("Ilmastotyö", "Koulutukset, kurssit ja webinaarit", "hankinnat|awards")


@pytest.fixture
def db(db_engine: Engine) -> Engine:
    """An engine on each database (``db_url``)."""
    return db_engine


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="cp1252", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["Sähköposti", "Yritys", "Kieli", "Aiheet", "Yrityksen koko"])
        writer.writerows(rows)
    return path


def row(i: int) -> list[str]:
    lang = LANGS[i % 3]
    return [f"user{i}@firma{i % 7}.fi", f"Firma {i} Oy", LANG_WORDS[lang], TOPICS[i % 3], "pieni"]


def records(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Per address: its vantaa subscription's consent log and the subscription's times."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with Session(engine) as s:
        query = (
            select(Subscriber.email, Subscription, ConsentRecord)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(ConsentRecord, ConsentRecord.subscription_id == Subscription.id)
            .where(Subscription.channel == "import")
            .order_by(ConsentRecord.id)
        )
        for email, sub, rec in s.execute(query):
            when = sub.created_at if rec.action == "given" else sub.confirmed_at
            out.setdefault(email, []).append(
                (rec.action, rec.channel, rec.consent_version, rec.consent_text, rec.detail,
                 rec.created_at == when)
            )  # fmt: skip
    return out


def given(config: Config, lang: str, detail: str) -> tuple[object, ...]:
    text = consent_text(city_name(config, "vantaa", lang), lang)
    return ("given", "import", CONSENT_VERSION, text, detail, True)


def confirmed(detail: str) -> tuple[object, ...]:
    return ("confirmed", "import", CONSENT_VERSION, None, detail, True)


def test_import_writes_the_consent_records_of_single_row_sign_ups(
    db: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    mailer = RecordingMailer()
    with Session(db) as s:
        # known before the import: a subscriber of another city, one who left vantaa
        other = SignUp.clean(config, "kerava", email="user1@firma1.fi", topics=["climate"])
        add_subscriber(s, settings, config, "kerava", other, None, confirmed=True, consent_note="x")
        left = SignUp.clean(config, "vantaa", email="user2@firma2.fi", topics=["climate"])
        add_subscriber(s, settings, config, "vantaa", left, None, confirmed=True, consent_note="x")
        unsubscribe_email(s, "user2@firma2.fi", "vantaa", channel="cli")
        s.commit()
    first = write(tmp_path / "first.csv", [row(i) for i in range(1, 1_201)])
    report = import_csv(db, settings, config, first, "vantaa", mailer=mailer)
    assert (report.imported, len(report.skipped), report.mailed) == (1_199, 1, 1_199)
    # a second file confirms part of the first and adds new contacts
    second = write(tmp_path / "second.csv", [row(i) for i in range(1_001, 1_501)])
    note = "asiakkaat 2020 alkaen"
    again = import_csv(
        db, settings, config, second, "vantaa", confirmed=True, consent_note=note, mailer=mailer
    )
    assert (again.imported, again.updated, again.unchanged) == (300, 200, 0)
    assert len(mailer.sent) == 1_199
    logs = records(db)
    for i in range(1, 1_501):
        email, lang = f"user{i}@firma{i % 7}.fi", LANGS[i % 3]
        lang = lang if lang in ("fi", "sv") else "fi"  # Vantaa sends in fi and sv only
        expected = []
        if i == 2:
            continue  # unsubscribed: its records are the web stage's, not the import's
        if i <= 1_200:
            expected.append(given(config, lang, "first.csv"))
        if i > 1_200:
            expected.append(given(config, lang, f"second.csv: {note}"))
        if i > 1_000:
            expected.append(confirmed(f"second.csv: {note}"))
        assert logs.pop(email) == expected, email
    assert logs == {}
    # every link mailed confirms the subscription it was mailed for
    with Session(db) as s:
        for mail in mailer.sent[::97]:
            sub = confirm(s, settings, mail.confirm_url.rsplit("/", 1)[1])
            assert sub.subscriber.email == mail.to and sub.status == SubscriptionStatus.CONFIRMED
            assert sub.confirmation_sent_at is not None
        s.commit()
        pending = s.scalars(select(Subscription).where(Subscription.channel == "import")).all()
        salts = {sub.token_salt for sub in pending}
        assert len(salts) == len(pending) == 1_499


def test_a_confirmation_mail_that_fails_leaves_the_claim_free(
    db: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    sent: list[str] = []

    def mailer(mail: ConfirmationMail) -> None:
        if mail.to.startswith("user3"):
            raise DeliveryError("451 try again later")
        sent.append(mail.to)

    path = write(tmp_path / "crm.csv", [row(i) for i in range(1, 41)])
    report = import_csv(db, settings, config, path, "vantaa", mailer=mailer)
    failed = {f"user{i}@firma{i % 7}.fi" for i in range(1, 41) if str(i).startswith("3")}
    assert report.imported == 40 and report.mailed == 40 - len(failed) == len(sent)
    with Session(db) as s:
        query = select(Subscriber.email, Subscription.confirmation_sent_at).join(Subscription)
        unsent = {email for email, when in s.execute(query) if when is None}
    assert unsent == failed  # a later sign-up may mail them at once


def test_a_second_file_updates_topics_and_details_in_place(
    db: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    rows = [row(i) for i in range(1, 31)]
    import_csv(db, settings, config, write(tmp_path / "a.csv", rows), "vantaa")
    for cells in rows[:10]:
        cells[1], cells[3] = "Uusi Nimi Oy", "Palkinnot ja tunnustukset"
    report = import_csv(db, settings, config, write(tmp_path / "b.csv", rows), "vantaa")
    assert (report.imported, report.updated, report.unchanged) == (0, 10, 20)
    with Session(db) as s:
        query = select(Subscriber.email, Subscriber.company_name, Subscription.topics)
        found = {
            email: (name, topics) for email, name, topics in s.execute(query.join(Subscription))
        }
    for cells in rows[:10]:
        assert found[cells[0]] == ("Uusi Nimi Oy", ["awards"])
    assert found[rows[10][0]][0] == rows[10][1]
    assert count_records(db) == 30  # an update writes no consent record


def count_records(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.scalars(select(ConsentRecord.id)).all())


def test_a_crm_file_again_leaves_what_the_person_chose_unless_a_cell_says_otherwise(
    db: Engine, settings: Settings, config: Config, tmp_path: Path
) -> None:
    with Session(db) as s:
        sub = add_subscriber(
            s, settings, config, "vantaa",
            SignUp.clean(config, "vantaa", email="maija@firma.fi", topics=["climate"]),
            None, confirmed=True, consent_note="customer", channel="cli", detail="test",
        )  # fmt: skip
        s.commit()
        update_preferences(
            s, settings, config, token_for(settings, sub, "preferences"), cities=["vantaa"],
            topics=["awards", "procurement"], language="sv", company_name="Mäkinen Oy",
            business_id="0112038-9", contact_name="Maija Mäkinen", size_class="small",
            industry_code="62010", interested_in_visit=False,
        )  # fmt: skip
        s.commit()

    def held() -> tuple[object, ...]:
        with Session(db) as s:
            person = s.scalars(select(Subscriber)).one()
            return (person.subscriptions[0].topics, person.language, person.company_name,
                    person.business_id, person.contact_name, person.size_class,
                    person.industry_code)  # fmt: skip

    chosen = (["awards", "procurement"], "sv", "Mäkinen Oy", "0112038-9", "Maija Mäkinen",
              "small", "62010")  # fmt: skip
    assert held() == chosen
    files = {
        "empty.csv": "Sähköposti;Aiheet;Yritys;Y-tunnus;Nimi;Koko;Toimiala;Kieli\n"
        "maija@firma.fi;;;;;;;\n",
        "no-columns.csv": "Sähköposti\nmaija@firma.fi\n",
        "unusable.csv": "Sähköposti;Aiheet;Koko;Toimiala;Kieli;Y-tunnus\n"
        "maija@firma.fi;Urheilu;jättimäinen;Kauppa;saksa;1234567-2\n",
        "language.csv": "Sähköposti;Kieli\nmaija@firma.fi;suomi\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        report = import_csv(db, settings, config, path, "vantaa")
        assert (report.imported, report.updated, report.unchanged) == (0, 0, 1), name
        assert held() == chosen, name
    # a cell that names a topic or a detail replaces what is held (the CRM is staff's)
    path = tmp_path / "new.csv"
    path.write_text("Sähköposti;Aiheet;Koko\nmaija@firma.fi;Hankinnat;suuri\n", encoding="utf-8")
    assert import_csv(db, settings, config, path, "vantaa").updated == 1
    assert held()[0] == ["procurement"] and held()[5] == "large"
    # a new contact whose row names no topic gets the city's first
    path.write_text("Sähköposti;Aiheet\nuusi@firma.fi;\n", encoding="utf-8")
    assert import_csv(db, settings, config, path, "vantaa").imported == 1
    with Session(db) as s:
        query = select(Subscription.topics).join(Subscriber)
        assert s.scalar(query.where(Subscriber.email == "uusi@firma.fi")) == ["climate"]
