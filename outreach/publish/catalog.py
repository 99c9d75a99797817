"""The industries and themes a story is filed under: fixed lists, named per language."""

from __future__ import annotations

#: key → {lang: name}
INDUSTRIES: dict[str, dict[str, str]] = {
    "manufacturing": {"fi": "Teollisuus", "sv": "Industri", "en": "Manufacturing"},
    "construction": {"fi": "Rakentaminen", "sv": "Byggande", "en": "Construction"},
    "retail": {"fi": "Kauppa", "sv": "Handel", "en": "Retail and wholesale"},
    "logistics": {
        "fi": "Kuljetus ja logistiikka",
        "sv": "Transport och logistik",
        "en": "Transport and logistics",
    },
    "hospitality": {
        "fi": "Majoitus ja ravitsemus",
        "sv": "Hotell och restaurang",
        "en": "Hotels and restaurants",
    },
    "services": {"fi": "Palvelut", "sv": "Tjänster", "en": "Services"},
    "energy": {"fi": "Energia", "sv": "Energi", "en": "Energy"},
    "other": {"fi": "Muu toimiala", "sv": "Annan bransch", "en": "Other industry"},
}

THEMES: dict[str, dict[str, str]] = {
    "energy": {"fi": "Energiatehokkuus", "sv": "Energieffektivitet", "en": "Energy efficiency"},
    "renewables": {
        "fi": "Uusiutuva energia",
        "sv": "Förnybar energi",
        "en": "Renewable energy",
    },
    "transport": {"fi": "Liikkuminen", "sv": "Mobilitet", "en": "Transport"},
    "circular": {"fi": "Kiertotalous", "sv": "Cirkulär ekonomi", "en": "Circular economy"},
    "buildings": {"fi": "Rakennukset", "sv": "Byggnader", "en": "Buildings"},
    "food": {"fi": "Ruoka", "sv": "Mat", "en": "Food"},
    "nature": {"fi": "Luonto", "sv": "Natur", "en": "Nature"},
}


def label(names: dict[str, dict[str, str]], key: str | None, lang: str) -> str:
    """The name of ``key`` in ``lang``; empty for no key."""
    if not key or key not in names:
        return ""
    return names[key].get(lang) or names[key]["en"]


def choices(names: dict[str, dict[str, str]], lang: str) -> list[tuple[str, str]]:
    return [(key, label(names, key, lang)) for key in names]
