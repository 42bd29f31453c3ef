"""Streams of stored events as SSE responses, and where a re-attaching watcher resumes.

A stream — the POST response itself, or a client re-attaching — is the library's `events` view on the
channel, given a copy of the request whose Last-Event-ID says where to resume (`<channel>:0` replays the
whole run). The channel manager authorises the reader. `_run_events` adapts the view's never-ending stream
to the contract: it drops the library's padding and `stream-open`, drops ids already delivered (the library
re-sends after a queue/storage conflict), passes keep-alives, ends right after `done`, and ends after
SSE_MAX_STREAM_SECONDS so clients re-attach with Last-Event-ID. A quiet stream re-reads storage once at the
library's keep-alive.

A stream holds no database connection while it waits: storage and authorisation reads give theirs back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django_eventstream.views import events, get_listener_manager

from ..db import release_connection
from .relay import redis_relay_subscribed, restream_from_storage
from .storage import ChannelManager

logger = logging.getLogger(__name__)

KEEP_ALIVE = ": keep-alive\n\n"
_ID_LINE = re.compile(r"^id: (?P<channel>[^:\n]+):(?P<id>\d+)$", re.MULTILINE)
_EVENT_LINE = re.compile(r"^event: (?P<type>[\w-]+)$", re.MULTILINE)
# `testrun-<uuid>:<n>` (or, as ids were spelled before, `testrun-<32 hex>:<n>`) or a bare `<n>`; ASCII digits
# only, and few enough for an int column.
_LAST_EVENT_ID = re.compile(r"(?:(?P<channel>[a-z]+-[0-9a-f-]{32,36}):)?(?P<id>[0-9]{1,9})", re.ASCII)


def _stream_request(request, channel: str, after_id: int) -> HttpRequest:
    """A copy of `request` for the library's view: same user and headers, resuming after `after_id`.

    Its query string is left out, so the library's GRIP-only parameters (`es-meta`, `recover`) can't be
    supplied by a client; the Last-Event-ID is always one this module built.
    """
    stream_request = HttpRequest()
    stream_request.method = "GET"
    stream_request.path = getattr(request, "path", "/")
    stream_request.META = {**getattr(request, "META", {}), "HTTP_LAST_EVENT_ID": f"{channel}:{after_id}"}
    stream_request.user = getattr(request, "user", None) or AnonymousUser()
    return stream_request


async def _run_events(chunks: AsyncIterator[bytes], *, channel: str, after_id: int, last_event: str, lifetime: float):
    """The view's stream, reduced to the run's events after `after_id`, each once, ending after `last_event`.

    A stream quiet until the library's keep-alive (20 s) re-reads storage once: an event whose relay was
    lost while this process kept Redis (a worker's publish failed) then arrives within that, not at re-attach.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    if not await redis_relay_subscribed():  # before the view's first storage read
        logger.warning("the Redis relay has not subscribed yet: this stream re-reads storage once it has")
    delivered = after_id
    iterator = aiter(chunks)
    try:
        while (remaining := deadline - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(anext(iterator), remaining)
            except (StopAsyncIteration, TimeoutError):
                return
            out = []
            finished = False
            for block in chunk.decode().split("\n\n"):
                event = _EVENT_LINE.search(block)
                if event is None or event["type"] in ("stream-open", "stream-reset"):
                    continue  # padding comment and the library's own markers
                if event["type"] == "keep-alive":
                    out.append(KEEP_ALIVE)
                    restream_from_storage(get_listener_manager(), channel=channel)
                    continue
                event_id = _ID_LINE.search(block)
                if event_id is not None:
                    number = int(event_id["id"])
                    if number <= delivered:
                        continue  # already sent: the library re-read storage after a conflict
                    delivered = number
                out.append(block + "\n\n")
                if event["type"] in (last_event, "stream-error"):
                    finished = True
                    break
            if out:
                yield "".join(out)
            if finished:
                return
    finally:
        await iterator.aclose()


def event_stream_response(
    channel: str,
    *,
    request=None,
    after_id: int = 0,
    headers: dict | None = None,
    last_event: str = "done",
) -> StreamingHttpResponse:
    """The channel's events after `after_id` as an SSE response, live, ending after `last_event`.

    The caller has found the channel's object in the reader's scope, so the channel manager starts from
    that answer; after ALLOWED_SECONDS it asks the database again (a removed member's stream then ends).
    """
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        ChannelManager.allow(user, channel)
    response = events(_stream_request(request, channel, after_id), channels=[channel])
    if response.streaming:
        response.streaming_content = _run_events(
            response.streaming_content,
            channel=channel,
            after_id=after_id,
            last_event=last_event,
            lifetime=settings.SSE_MAX_STREAM_SECONDS,
        )
    for name, value in (headers or {}).items():
        response[name] = value
    release_connection()  # the view's reads are done; the stream waits without a connection
    return response


def parse_last_event_id(value: str | None, channel: str) -> int:
    """`Last-Event-ID: testrun-…:N` (or a bare N) resumes after event N; anything else starts at 0."""
    match = _LAST_EVENT_ID.fullmatch((value or "").strip())
    if match is None or (match["channel"] and _channel_key(match["channel"]) != _channel_key(channel)):
        return 0
    return int(match["id"])


def _channel_key(channel: str) -> tuple[str, uuid.UUID] | None:
    """A channel's kind and id, however its UUID is spelled (with or without dashes)."""
    kind, _, ident = channel.partition("-")
    try:
        return kind, uuid.UUID(ident)
    except ValueError:
        return None


def resume_after(subject, requested: int) -> int | None:
    """Where a watcher of `subject` (a run or a job) resumes: after `requested`, or from the start when that
    id never existed.

    None when the watcher is at or after the `done` event: there is nothing left to send.
    """
    events_ = subject.events.all()
    if requested and events_.filter(type="done", seq__lte=requested).exists():
        return None
    if requested and not events_.filter(seq=requested).exists():
        return 0
    return requested


def resumed_events_response(request, channel: str, after: int | None, headers: dict) -> HttpResponse:
    """`channel`'s events after `after`, then live; None for `after` means the client already has `done`.

    Then the answer is 204 No Content, which tells an EventSource to stop instead of reconnecting for ever.
    """
    if after is None:
        response = HttpResponse(status=204)
        for name, value in headers.items():
            response[name] = value
        release_connection()
        return response
    return event_stream_response(channel, request=request, after_id=after, headers=headers)


def run_events_response(request, run) -> HttpResponse:
    """The one re-attach path (API and admin): the run's events after the request's Last-Event-ID, then live."""
    after = resume_after(run, parse_last_event_id(request.headers.get("Last-Event-ID"), run.channel))
    return resumed_events_response(request, run.channel, after, {"X-Test-Run-ID": str(run.pk)})


def job_events_response(request, job) -> HttpResponse:
    """The one re-attach path for a job's progress (API and admin): after the request's Last-Event-ID, then live."""
    after = resume_after(job, parse_last_event_id(request.headers.get("Last-Event-ID"), job.channel))
    return resumed_events_response(request, job.channel, after, {"X-Test-Job-ID": str(job.pk)})
