"""A subscriber's fields are listed once: show, export and the JSON API read that list."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.settings import Settings
from outreach.subscriptions import (
    DETAIL_FIELDS,
    EXPORT_FIELDS,
    SUBSCRIBER_FIELDS,
    SignUp,
    add_subscriber,
    export_rows,
    show,
)
from outreach.web.api import DETAILS, SubscriberFields
from tests.subscriptions.conftest import signup


def test_the_api_schema_and_export_follow_the_one_list() -> None:
    assert tuple(SubscriberFields.model_fields) == SUBSCRIBER_FIELDS
    assert DETAILS == DETAIL_FIELDS
    assert set(DETAIL_FIELDS) <= set(SignUp.__dataclass_fields__)
    assert set(SUBSCRIBER_FIELDS) <= set(EXPORT_FIELDS)


def test_show_and_export_give_every_field(
    session: Session, settings: Settings, config: Config
) -> None:
    data = signup(config, company_name="Oy Esimerkki Ab", size_class="small")
    add_subscriber(session, settings, config, "vantaa", data, None, confirmed=True,
                   consent_note="customer relationship")  # fmt: skip
    shown = show(session, settings, "matti@yritys.fi")
    assert shown is not None
    assert set(shown["subscriber"]) == {*SUBSCRIBER_FIELDS, "created_at", "updated_at"}
    assert shown["subscriber"]["company_name"] == "Oy Esimerkki Ab"
    (row,) = export_rows(session, "vantaa")
    assert list(row) == list(EXPORT_FIELDS)
    assert row["size_class"] == "small"
