"""A cap on request bodies for every route, checked before the body is read.

A request whose ``Content-Length`` is over the cap is answered 413 at once,
before any route, key check or parser runs. A body without a length
(chunked) is counted as it streams in, and the read that goes over the cap
raises a 413 instead of handing over more bytes, so no parser ever holds
more than the cap.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
#: Paths that take a file, and their own cap: the console's CSV import.
UPLOADS = ((re.compile(r"/staff/[a-z0-9_-]{1,64}/subscribers/import"), 32 * 1024 * 1024),)


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes; send less"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body goes over the cap (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


class BodyLimit:
    """ASGI middleware: ``reject(request)`` answers a body that declares too many bytes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int = MAX_BODY,
        reject: Callable[[Request, int], Awaitable[Response] | Response],
        paths: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.paths = dict(paths or {})  # a larger limit for a form with an upload
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.paths.get(path) or next(
            (cap for p, cap in UPLOADS if p.fullmatch(path)), self.max_body
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                answer = self.reject(Request(scope), limit)
                response = answer if isinstance(answer, Response) else await answer
                await response(scope, _no_body, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
