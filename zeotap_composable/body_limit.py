"""The request body under ASGI: read at most DATA_UPLOAD_MAX_MEMORY_SIZE + 1 bytes, with or without a length.

Django's ASGI handler reads a whole body (to a temporary file) before any view runs, so a body over the limit
was refused only once its last byte arrived, and one that never ended held the request for ever. A body sent
without Content-Length (Transfer-Encoding: chunked) reached the API as no body at all: DRF reads as many bytes
as Content-Length says.

This wrapper ends every body one byte past the limit, so the layer that reads it (the API's parser, Django's
form parsing) answers its 413 at once, and gives a chunked body the Content-Length it lacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

Receive = Callable[[], Awaitable[dict[str, Any]]]
Application = Callable[[dict, Receive, Callable], Awaitable[None]]


def bounded_body(application: Application) -> Application:
    async def bounded(scope: dict, receive: Receive, send: Callable) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] != "http" or limit is None:
            return await application(scope, receive, send)
        receive = _at_most(receive, limit + 1)
        headers = scope["headers"]
        names = {name.lower() for name, _ in headers}
        if b"transfer-encoding" in names and b"content-length" not in names:
            body, message = await _read_all(receive)
            if message["type"] == "http.disconnect":
                return None  # the client left before its body ended: there is no request to answer
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
            receive = _replay(body, receive)
        return await application(scope, receive, send)

    return bounded


def _at_most(receive: Receive, cap: int) -> Receive:
    """The body's first `cap` bytes, then its end; what the client still sends is read and dropped, so the
    messages after the body are only the disconnect the handler listens for."""
    received = 0

    async def bounded_receive() -> dict[str, Any]:
        nonlocal received
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            if received >= cap:
                continue  # past the end this request was given
            body = message.get("body", b"")[: cap - received]
            received += len(body)
            if received >= cap:
                return {"type": "http.request", "body": body, "more_body": False}
            return {**message, "body": body}

    return bounded_receive


async def _read_all(receive: Receive) -> tuple[bytes, dict[str, Any]]:
    """The (bounded) body, and the message that ended it: its last part, or the client's disconnect."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), message
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), message


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replaying_receive() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replaying_receive
