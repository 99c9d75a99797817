"""Writes ``hakosalo.csv`` beside this file (deterministic).

``hakosalo.csv`` looks like a contact export of a Finnish CRM (Hakosalo-style):
cp1252, ``;`` between fields, Finnish column names, the size class, language and
topics as staff type them (``mikro``, ``pk-yritys``, ``ruotsi``, ``svenska``,
topic names in Finnish, Swedish or English), columns the import has no use for,
and a handful of bad rows of every kind. :func:`generate` also returns, per
line, what the generator meant: the kind of row, the normalised values and
which optional field was made bad, so tests compare the import with the intent,
not with a copy of the import's own tables.

Run ``python tests/data/crm/generate.py`` after changing it; a test checks the
stored files are what it writes.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOOD_ROWS = 500
HEADER = [
    "Asiakasnro", "Etunimi", "Sukunimi", "Sähköposti", "Puhelin", "Yritys", "Y-tunnus",
    "Yrityksen koko", "Toimiala", "Kieli", "Aiheet", "Suostumus", "Postitoimipaikka",
    "Muokattu",
]  # fmt: skip
FIRST = ["Matti", "Liisa", "Jukka", "Päivi", "Timo", "Sari", "Mikko", "Anna-Kaisa", "Örjan",
         "Åsa", "Heikki", "Tuija", "Jyrki", "Kristiina", "Björn", "Märta", "Pekka",
         "Eeva"]  # fmt: skip
LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laaksonen", "Söderberg",
        "Järvinen", "Heikkilä", "Lindqvist", "Östman", "Kärkkäinen", "Björklund",
        "Ahonen"]  # fmt: skip
COMPANY = ["Rakennus", "Kuljetus", "Siivous", "Kahvila", "Konepaja", "Tilitoimisto", "Puutarha",
           "Ohjelmisto", "Sähkö", "Kiinteistö", "Byggnads", "Transport"]  # fmt: skip
FORM = ["Oy", "Oy", "Ky", "Tmi", "Ab", "Oy Ab"]
SIZES = {
    "micro": ["mikro", "Mikro", "mikroyritys", "Mikroyritys", "mikroföretag", "micro"],
    "small": ["pieni", "Pieni", "pienyritys", "pk-yritys", "PK", "liten", "small"],
    "medium": ["keskisuuri", "Keskisuuri", "keskikokoinen", "medelstor", "medium"],
    "large": ["suuri", "Suuri", "iso", "suuryritys", "stor", "large"],
}
LANGUAGES = {
    "fi": ["suomi", "Suomi", "finska", "suomeksi", "Finnish", "fi"],
    "sv": ["ruotsi", "Ruotsi", "svenska", "Svenska", "ruotsiksi"],
    "en": ["englanti", "English", "engelska"],
}
TOPICS = {
    "climate": ["Kaupungin ilmastotyö ja uutiset", "Stadens klimatarbete och nyheter",
                "The city's climate work and news", "climate", "Ilmastotyö"],
    "trainings": ["Koulutukset, kurssit ja webinaarit", "Utbildningar, kurser och webbinarier",
                  "Trainings, courses and webinars", "koulutukset", "trainings"],
    "procurement": ["Hankinnat ja markkinavuoropuhelu", "Upphandlingar och marknadsdialog",
                    "hankinnat", "procurement"],
    "awards": ["Palkinnot ja tunnustukset", "Priser och utmärkelser", "Palkinnot", "awards"],
}  # fmt: skip
#: The file is imported into Vantaa, which sends its newsletter in these languages.
CITY_LANGUAGES = ("fi", "sv")
CONSENT_YES = ["Kyllä", "kyllä", "K", "x", "Ja", "1"]
CONSENT_NO = ["Ei", "ei", "", "Nej", "0"]
TOWNS = ["Vantaa", "Helsinki", "Kerava", "Vanda", "Järvenpää"]
#: optional fields made bad on purpose: the import keeps the contact, drops the field
BAD_OPTIONAL = {
    "business_id": ["1234567-2", "12345678", "FI-0112038", "tuntematon"],
    "size_class": ["jättimäinen", "?", "n/a"],
    "language": ["saksa", "tyska", "??"],
    "topics": ["Urheilu", "Kulttuuri ja vapaa-aika"],
    "industry_code": ["ei tiedossa", "62-01-0"],
    "company_name": ["Yritys " + "pitkä " * 45],
}
BAD_EMAIL = ["matti.virtanen@", "ei sähköpostia", "anna@@firma.fi", "pekka at firma.fi", "",
             "liisa@firma", "jukka@firma..fi"]  # fmt: skip


def ascii_part(text: str) -> str:
    table = str.maketrans({"ä": "a", "ö": "o", "å": "a", "Ä": "a", "Ö": "o", "Å": "a"})
    return text.translate(table).lower().replace(" ", "").replace("-", "")


def business_id(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(10**7):07d}"
        total = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2), strict=True))
        remainder = total % 11
        if remainder != 1:
            return f"{body}-{0 if remainder == 0 else 11 - remainder}"


def generate() -> tuple[bytes, list[dict[str, object]]]:
    rng = random.Random(2026)
    plan: list[str] = ["good"] * GOOD_ROWS
    plan += ["bad_email"] * len(BAD_EMAIL) + ["no_consent"] * 5 + ["suppressed"] * 4
    plan += [f"warn:{name}" for name, values in BAD_OPTIONAL.items() for _ in values]
    rng.shuffle(plan)
    bad_values = {name: list(values) for name, values in BAD_OPTIONAL.items()}
    bad_emails = list(BAD_EMAIL)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    meta: list[dict[str, object]] = []
    for number, kind in enumerate(plan, start=1):
        line = number + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = f"{rng.choice(COMPANY)} {last} {rng.choice(FORM)}"
        local, domain = f"{ascii_part(first)}.{ascii_part(last)}", ascii_part(last)
        email = f"{local}.{number}@{domain}-{number % 37}.fi"
        size = rng.choices([*SIZES, None], weights=[4, 4, 4, 4, 1])[0]
        lang = rng.choices(list(LANGUAGES), weights=[7, 2, 1])[0]
        topics = sorted(rng.sample(list(TOPICS), rng.randint(1, 3)))
        row = {
            "Asiakasnro": str(10_000 + number),
            "Etunimi": first,
            "Sukunimi": last,
            "Sähköposti": email if rng.random() < 0.8 else email.upper().replace(".FI", ".fi"),
            "Puhelin": f"040 {rng.randrange(10**7):07d}",
            "Yritys": company,
            "Y-tunnus": business_id(rng) if rng.random() < 0.7 else "",
            "Yrityksen koko": rng.choice(SIZES[size]) if size else "",
            "Toimiala": rng.choice(["62010", "41200", "49410", "81210", "56101", "", "43.21"]),
            "Kieli": rng.choice(LANGUAGES[lang]),
            "Aiheet": rng.choice([", ", " | ", "; "]).join(rng.choice(TOPICS[t]) for t in topics),
            "Suostumus": rng.choice(CONSENT_YES),
            "Postitoimipaikka": rng.choice(TOWNS),
            "Muokattu": f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.2025",
        }
        entry: dict[str, object] = {"line": line, "kind": kind, "email": email.lower()}
        if kind == "bad_email":
            row["Sähköposti"] = bad_emails.pop()
        elif kind == "no_consent":
            row["Suostumus"] = rng.choice(CONSENT_NO)
        elif kind.startswith("warn:"):
            name = kind[5:]
            column = {"business_id": "Y-tunnus", "size_class": "Yrityksen koko",
                      "language": "Kieli", "topics": "Aiheet", "industry_code": "Toimiala",
                      "company_name": "Yritys"}[name]  # fmt: skip
            row[column] = bad_values[name].pop()
            if name == "size_class":
                size = None
            elif name == "language":
                lang = "fi"  # the city's first language
            elif name == "topics":
                row["Aiheet"] += ", " + TOPICS["awards"][0]
                topics = ["awards"]
        if lang not in CITY_LANGUAGES:  # not sent in: the city's first, with a note
            lang = "fi"
            entry["language_offered"] = True
        entry.update(
            contact_name=f"{first} {last}",
            size_class=size,
            language=lang,
            topics=topics,
            business_id=row["Y-tunnus"] or None,
            company_name=row["Yritys"],
        )
        if kind == "warn:business_id":
            entry["business_id"] = None
        elif kind == "warn:company_name":
            entry["company_name"] = None
        writer.writerow([row[name] for name in HEADER])
        meta.append(entry)
    return out.getvalue().encode("cp1252"), meta


def main() -> None:
    (HERE / "hakosalo.csv").write_bytes(generate()[0])


if __name__ == "__main__":
    main()
