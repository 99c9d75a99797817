"""No form input makes a 5xx.

The JSON API's fuzz is schemathesis's (test_api_schemathesis.py), which also
sends schema-violating bodies; these forms are not in the OpenAPI document.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import TestClient, csrf_of

HS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
form_field = st.text(max_size=80) | st.sampled_from(["", "\r\n", "\x00", "a@b.fi", "0112038-9"])


@HS
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "email",
                "company_name",
                "business_id",
                "contact_name",
                "language",
                "topics",
                "consent",
                "website",
                "city",
                "title",
                "body",
                "link",
                "contact_email",
                "consent_to_publish",
                "scope",
                "cities",
            ]
        ),
        form_field,
        max_size=8,
    )
)
def test_forms_never_5xx(client: TestClient, fields: dict[str, str]) -> None:
    token = csrf_of(client.get("/vantaa/subscribe").text)
    data = {**fields, "csrf_token": token}
    for path in (
        "/vantaa/subscribe",
        "/kerava/embed",
        "/stories/submit",
        "/unsubscribe/u1.1.AAAA",
        "/confirm/c1.1.AAAA",
    ):
        resp = client.post(path, data=data)
        assert resp.status_code < 500, (path, resp.text)
