"""Provider webhooks: ``POST /hooks/<provider>`` (see :mod:`outreach.bounces.providers`).

The answer is 200 once the events are stored; 406 for a call that is not
signed right, stale or replayed (Mailgun stops retrying on 406); 404 for a
provider that is not known.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outreach.bounces import PROVIDERS, WebhookRefused, process_events
from outreach.subscriptions import spend_token
from outreach.web.common import state

router = APIRouter()


@router.post("/hooks/{provider}")
async def hook(request: Request, provider: str) -> JSONResponse:
    module = PROVIDERS.get(provider)
    if module is None:
        return JSONResponse({"error": "unknown provider"}, status_code=404)
    st = state(request)
    try:
        payload = json.loads(await request.body())
        if not isinstance(payload, dict):
            raise ValueError
    except ValueError:
        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
    now = time.time()
    try:
        token = module.verify(st.settings, payload, now)
    except WebhookRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=406)
    moment = datetime.fromtimestamp(now, UTC)
    with st.session() as session:
        if not spend_token(session, token, moment + timedelta(days=1), moment):
            return JSONResponse({"error": "replayed"}, status_code=406)
        outcome = process_events(
            session,
            st.settings,
            module.events(payload),
            source=provider,
            trusted_message_id=True,
            now=moment,
        )
    return JSONResponse({"events": outcome.events, "duplicates": outcome.duplicates})
