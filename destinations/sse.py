"""Server-Sent Events for connection tests, through django-eventstream.

Every event of a run is published with `send_event` to the run's channel and stored (TestRunEventStorage).
A stream — the POST response itself, or a watcher attaching later — is one more subscriber of that channel:
it uses the library's own `views.stream` generator and `Listener`, starting at event id 0 so the whole run
is replayed, then live, and ends after `done`.

Two library flaws are handled here (see ../shared/reference/django-eventstream.md §7): `stream()` re-reads
storage from a stale cursor after a queue/DB "conflict" and would repeat events, so the cursor is advanced
to what was delivered after every chunk and any id already delivered is dropped. `views.stream` and
`views.Listener` are not exported, so the package is pinned and tests/api/test_sse_internals.py fails when
they change.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

from django.db.models import Max
from django.http import HttpResponse, StreamingHttpResponse
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.eventrequest import EventRequest
from django_eventstream.storage import EventDoesNotExist, StorageBase
from django_eventstream.views import Listener, stream

CHANNEL_PREFIX = "testrun-"
KEEP_ALIVE = ": keep-alive\n\n"
# Watchers attaching to a run re-read storage this often (the run may be produced by another process).
WATCHER_POLL_SECONDS = 1.0
_ID_LINE = re.compile(r"^id: (?P<channel>[^:\n]+):(?P<id>\d+)$", re.MULTILINE)
_EVENT_LINE = re.compile(r"^event: (?P<type>[\w-]+)$", re.MULTILINE)


class TestRunChannelManager(DefaultChannelManager):
    """Only test-run channels are stored; readers are authorised by our views before they subscribe."""

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(CHANNEL_PREFIX)


def _run_id(channel: str) -> uuid.UUID:
    return uuid.UUID(channel.removeprefix(CHANNEL_PREFIX))


class TestRunEventStorage(StorageBase):
    """django-eventstream storage for test-run channels, in TestRunEvent rows.

    A run's events are published by one worker thread, and the library keeps one storage instance per
    thread, so the next number is kept here: appending is a single INSERT.
    """

    def __init__(self):
        self._next_seq: dict[str, int] = {}

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        from .models import TestRunEvent

        seq = self._next_seq.get(channel) or self.get_current_id(channel) + 1
        TestRunEvent.objects.create(run_id=_run_id(channel), seq=seq, type=event_type, data=data)
        if event_type == "done":
            self._next_seq.pop(channel, None)  # nothing follows `done`
        else:
            self._next_seq[channel] = seq + 1
        return Event(channel, event_type, data, id=seq)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        from .models import TestRunEvent

        events = TestRunEvent.objects.filter(run_id=_run_id(channel), seq__gt=last_id).order_by("seq")[:limit]
        found = [Event(channel, event.type, event.data, id=event.seq) for event in events]
        if not found and last_id and last_id > self.get_current_id(channel):
            raise EventDoesNotExist(f"No event {last_id} in {channel}", self.get_current_id(channel))
        return found

    def get_current_id(self, channel: str) -> int:
        from .models import TestRunEvent

        latest = TestRunEvent.objects.filter(run_id=_run_id(channel)).aggregate(seq=Max("seq"))["seq"]
        return latest or 0


def _event_request(channel: str, after_id: int) -> EventRequest:
    request = EventRequest()
    request.channels = {channel}
    request.channel_last_ids = {channel: str(after_id)}
    request.is_next = False
    request.is_recover = False
    request.user = None
    return request


async def _poll_storage(listener: Listener, every: float) -> None:
    """Make `stream()` re-read storage every `every` seconds, as it does after a queue overflow.

    The run's producer may live in another server process, whose `send_event` wakes only its own
    listeners; storage is what every process shares.
    """
    while True:
        await asyncio.sleep(every)
        listener.overflow = True
        listener.aevent.set()


async def channel_events(
    channel: str, *, after_id: int = 0, last_event: str = "done", poll_seconds: float | None = None
) -> AsyncIterator[str]:
    """The run's events after `after_id`, each exactly once, ending after `last_event`.

    `poll_seconds` also re-reads storage that often, for watchers that may not share the producer's process.
    """
    request = _event_request(channel, after_id)
    listener = Listener()
    listener.user_id = "anonymous"
    listener.channels = request.channels
    delivered = after_id
    chunks = stream(request, listener)
    poller = asyncio.ensure_future(_poll_storage(listener, poll_seconds)) if poll_seconds else None
    try:
        async for chunk in chunks:
            out = []
            finished = False
            for block in chunk.split("\n\n"):
                event = _EVENT_LINE.search(block)
                if event is None or event["type"] == "stream-open":
                    continue  # padding comment and the library's own open marker
                if event["type"] == "keep-alive":
                    out.append(KEEP_ALIVE)
                    continue
                event_id = _ID_LINE.search(block)
                if event_id is not None:
                    number = int(event_id["id"])
                    if number <= delivered:
                        continue  # already sent: the library re-read storage after a conflict
                    delivered = number
                out.append(block + "\n\n")
                if event["type"] == last_event:
                    finished = True
                    break
            request.channel_last_ids[channel] = str(delivered)
            if out:
                yield "".join(out)
            if finished:
                return
    finally:
        if poller is not None:
            poller.cancel()
        await chunks.aclose()


def event_stream_response(
    channel: str, *, after_id: int = 0, headers: dict | None = None, poll_seconds: float | None = None
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        channel_events(channel, after_id=after_id, poll_seconds=poll_seconds), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def parse_last_event_id(value: str | None, channel: str) -> int:
    """`Last-Event-ID: testrun-…:N` (or a bare N) resumes after event N; anything else starts at 0."""
    if not value:
        return 0
    name, _, number = value.rpartition(":")
    if name and name != channel:
        return 0
    return int(number) if number.isdigit() else 0


def resume_after(run, requested: int) -> int | None:
    """Where a watcher of `run` resumes: after `requested`, or from the start when that id never existed.

    None when the watcher already has the `done` event: there is nothing left to send.
    """
    from .models import TestRunEvent

    events = TestRunEvent.objects.filter(run=run)
    if requested and not events.filter(seq=requested).exists():
        return 0
    if events.filter(type="done", seq__lte=requested).exists():
        return None
    return requested


def finished_response(headers: dict) -> HttpResponse:
    """An event stream with nothing left in it: the run ended before the id the client resumes from."""
    response = HttpResponse(b"", content_type="text/event-stream")
    for name, value in headers.items():
        response[name] = value
    return response
