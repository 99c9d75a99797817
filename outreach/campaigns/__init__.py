"""Campaign and city files: the schema, the loader and the sync to the database.

``campaigns/cities.yaml`` lists the cities (tenants); every other ``*.yaml`` in
the folder is one campaign, ``kind: newsletter`` or ``kind: announcement``.

- :mod:`~outreach.campaigns.schema`: what each key may hold;
- :mod:`~outreach.campaigns.dkim`: ``sender.dkim`` and the check that its key loads;
- :mod:`~outreach.campaigns.load`: reading the folder, cross-file checks;
- :mod:`~outreach.campaigns.format`: error lines with the key path, its line
  and a "did you mean" for a misspelt key;
- :mod:`~outreach.campaigns.config`: the loaded :class:`Config`;
- :mod:`~outreach.campaigns.sync`: City and Campaign rows;
- :mod:`~outreach.campaigns.console`: campaigns written in the staff console
  (same schema, stored in the database), export and import as files;
- :mod:`~outreach.campaigns.form`: the console editor's form fields ↔ a document, with
  :mod:`~outreach.campaigns.form_sections` for its sections and their sources.

Other stages import from here only.
"""

from outreach.campaigns import console, form, form_sections
from outreach.campaigns.config import Config
from outreach.campaigns.console import DocumentError
from outreach.campaigns.console import merge as merge_console
from outreach.campaigns.dkim import DkimConfig
from outreach.campaigns.load import collect, load, schedule_problem
from outreach.campaigns.schema import (
    CITIES_FILE,
    CRON_FIELDS,
    EMAIL_RE,
    LANGUAGES,
    AnnouncementCampaign,
    Audience,
    Branding,
    CampaignBase,
    CampaignConfig,
    CitiesFile,
    CityConfig,
    CityForms,
    Footer,
    Lang,
    LocalText,
    NewsletterCampaign,
    PlaceKind,
    Schedule,
    Section,
    Sender,
    Slug,
    SourceConfig,
    regular_genitive,
)
from outreach.campaigns.sync import sync

__all__ = [
    "CITIES_FILE",
    "CRON_FIELDS",
    "EMAIL_RE",
    "LANGUAGES",
    "AnnouncementCampaign",
    "Audience",
    "Branding",
    "CampaignBase",
    "CampaignConfig",
    "CitiesFile",
    "CityConfig",
    "CityForms",
    "Config",
    "DkimConfig",
    "DocumentError",
    "Footer",
    "Lang",
    "LocalText",
    "NewsletterCampaign",
    "PlaceKind",
    "Schedule",
    "Section",
    "Sender",
    "Slug",
    "SourceConfig",
    "collect",
    "console",
    "form",
    "form_sections",
    "load",
    "merge_console",
    "regular_genitive",
    "schedule_problem",
    "sync",
]
