"""City and Campaign rows follow the loaded files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.campaigns.config import Config
from outreach.models import Campaign, City


def sync(session: Session, config: Config) -> dict[str, Campaign]:
    """Upsert City and Campaign rows from the loaded files; returns campaigns by slug."""
    cities = {c.slug: c for c in session.scalars(select(City))}
    for slug, cfg in config.cities.items():
        row = cities.get(slug)
        if row is None:
            row = cities[slug] = City(slug=slug)
            session.add(row)
        row.names = {str(k): v for k, v in cfg.name.items()}
        row.languages = list(cfg.languages)
        row.timezone = cfg.timezone
    session.flush()
    rows = {c.slug: c for c in session.scalars(select(Campaign))}
    for slug, camp in config.campaigns.items():
        camp_row = rows.get(slug)
        if camp_row is None:
            camp_row = Campaign(slug=slug, city_id=cities[camp.city].id, kind=camp.kind)
            rows[slug] = camp_row
            session.add(camp_row)
        camp_row.city_id = cities[camp.city].id
        camp_row.kind = camp.kind
        camp_row.config_hash = config.hashes.get(slug)
    session.flush()
    return rows
