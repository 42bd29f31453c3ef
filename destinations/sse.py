"""Server-Sent Events for connection tests, through django-eventstream's public API.

Every event of a run is published with `send_event` to the run's channel and stored (TestRunEventStorage).
With `EVENTSTREAM_REDIS` set (distributed runtime) the library also relays each event over Redis pub/sub to
every web process, so a run produced by any worker streams live on any of them; nothing polls. Storage is
the record: when Redis is lost, events are still stored, and the relay reconnects and has its streams
re-read storage (RelaySupervisor); a stream quiet for a keep-alive re-reads it once too.

A stream — the POST response itself, or a client re-attaching — is the library's `events` view on the run's
channel, given a copy of the request whose Last-Event-ID says where to resume (`<channel>:0` replays the
whole run). The channel manager authorises the reader. `_run_events` adapts the view's never-ending stream
to the contract: it drops the library's padding and `stream-open`, drops ids already delivered (the library
re-sends after a queue/storage conflict), passes keep-alives, ends right after `done`, and ends after
SSE_MAX_STREAM_SECONDS so clients re-attach with Last-Event-ID.

A stream holds no database connection while it waits: storage and authorisation reads give theirs back.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django_eventstream import send_event
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase
from django_eventstream.views import events, get_listener_manager

from zeotap_composable.observability import EVENTS_UNRELAYED, RELAY_RECONNECTIONS

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "testrun-"
KEEP_ALIVE = ": keep-alive\n\n"
_ID_LINE = re.compile(r"^id: (?P<channel>[^:\n]+):(?P<id>\d+)$", re.MULTILINE)
_EVENT_LINE = re.compile(r"^event: (?P<type>[\w-]+)$", re.MULTILINE)
# `testrun-<hex>:<n>` or a bare `<n>`; ASCII digits only, and few enough for an int column.
_LAST_EVENT_ID = re.compile(r"(?:(?P<channel>[a-z]+-[0-9a-f]{32}):)?(?P<id>[0-9]{1,9})", re.ASCII)


def release_connection() -> None:
    """Give this thread's database connection back (to the pool) unless a transaction needs it.

    Streams and workers wait for seconds between reads and writes; holding a connection each meant a few
    dozen of them exhausted the pool. SQLite has no server connections to run out of, and reopening its
    file costs more than the query, so its connection stays.
    """
    if connection.vendor != "sqlite" and not connection.in_atomic_block:
        connection.close()


def _run_id(channel: str) -> uuid.UUID:
    return uuid.UUID(channel.removeprefix(CHANNEL_PREFIX))


class TestRunChannelManager(DefaultChannelManager):
    """Test-run channels are stored, and readable by members of the run's workspace and by admin staff.

    Other channels keep the library's defaults: their own views authorise the reader.
    """

    # The library asks on every storage read of a stream; an answer is reused this long. The answers are
    # shared by the process's threads: under ASGI each request runs on a new thread, and so gets a new
    # instance of this class.
    ALLOWED_SECONDS = 30.0
    _allowed: dict[tuple, float] = {}
    _lock = threading.Lock()

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(CHANNEL_PREFIX)

    @classmethod
    def allow(cls, user, channel: str) -> None:
        """Record that `user` may read `channel` (its view found the run in the user's scope just now)."""
        now = time.monotonic()
        with cls._lock:
            if len(cls._allowed) > 1000:
                cls._allowed = {key: until for key, until in cls._allowed.items() if until > now}
            cls._allowed[(user.pk, channel)] = now + cls.ALLOWED_SECONDS

    def can_read_channel(self, user, channel: str) -> bool:
        if not channel.startswith(CHANNEL_PREFIX):
            return True
        if user is None or not user.is_active:
            return False
        if self._allowed.get((user.pk, channel), 0) > time.monotonic():
            return True
        allowed = self._read_allowed(user, channel)
        if allowed:
            self.allow(user, channel)
        return allowed

    @staticmethod
    def _read_allowed(user, channel: str) -> bool:
        from workspaces.models import Membership

        from .models import TestRun

        try:
            workspace_id = TestRun.objects.filter(pk=_run_id(channel)).values_list("workspace_id", flat=True).first()
            if workspace_id is None:
                return False
            if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
                return True
            return user.is_staff and user.has_perm("destinations.view_destination")
        finally:
            release_connection()


class TestRunEventStorage(StorageBase):
    """django-eventstream storage for test-run channels, in TestRunEvent rows.

    A run's events are published by one worker thread, and the library keeps one storage instance per
    thread, so the next number is kept here: appending is a single INSERT. The first event of a run that
    `starts_empty` names is number 1 without asking the database.
    """

    _empty: set[str] = set()
    _empty_lock = threading.Lock()

    def __init__(self):
        self._next_seq: dict[str, int] = {}

    @classmethod
    def starts_empty(cls, channel: str) -> None:
        """The run behind `channel` has just been claimed for the first time: it has no events yet."""
        with cls._empty_lock:
            cls._empty.add(channel)

    @classmethod
    def _was_empty(cls, channel: str) -> bool:
        with cls._empty_lock:
            if channel in cls._empty:
                cls._empty.discard(channel)
                return True
            return False

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        from .models import TestRunEvent

        try:
            seq = self._next_seq.get(channel) or (1 if self._was_empty(channel) else self._current_id(channel) + 1)
            TestRunEvent.objects.create(run_id=_run_id(channel), seq=seq, type=event_type, data=data)
        finally:
            release_connection()
        if event_type == "done":
            self._next_seq.pop(channel, None)  # nothing follows `done`
        else:
            self._next_seq[channel] = seq + 1
        return Event(channel, event_type, data, id=seq)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        from .models import TestRunEvent

        try:
            rows = TestRunEvent.objects.filter(run_id=_run_id(channel), seq__gt=last_id).order_by("seq")[:limit]
            found = [Event(channel, row.type, row.data, id=row.seq) for row in rows]
            if not found and last_id and last_id > (current := self._current_id(channel)):
                raise EventDoesNotExist(f"No event {last_id} in {channel}", current)
            return found
        finally:
            release_connection()

    def get_current_id(self, channel: str) -> int:
        try:
            return self._current_id(channel)
        finally:
            release_connection()

    @staticmethod
    def _current_id(channel: str) -> int:
        from .models import TestRunEvent

        latest = TestRunEvent.objects.filter(run_id=_run_id(channel)).aggregate(seq=Max("seq"))["seq"]
        return latest or 0


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


_relay_tasks: set[asyncio.Task] = set()
# The pub/sub channel django-eventstream's send_event publishes on and its RedisListener subscribes to.
LIBRARY_RELAY_CHANNEL = "events_channel"
RELAY_RETRY_SECONDS = (0.25, 5.0)  # first and longest wait between attempts to reconnect the relay


def send_stored_event(channel: str, event_type: str, data) -> None:
    """`send_event` for our stored channels: the event is stored, then relayed over Redis when configured.

    If Redis cannot take the relay, the event is stored all the same and the run goes on: the relays of the
    web processes lost Redis too, and their streams re-read storage when they reconnect (`RelaySupervisor`).
    """
    from redis.exceptions import RedisError

    try:
        send_event(channel, event_type, data)
    except RedisError as exc:
        EVENTS_UNRELAYED.inc()
        logger.warning("event %r of %s stored, not relayed: Redis is unreachable (%s)", event_type, channel, exc)


def restream_from_storage(manager, *, channel: str | None = None) -> int:
    """Have every stream of this process (or of `channel`) re-read storage after the last event it sent.

    Events relayed while the relay was disconnected never reached this process. The library re-reads
    storage when a stream's queue overflowed; this raises that flag (`Listener.overflow`) and wakes each
    listener: the library's internals, checked by tests/api/test_sse_internals.py. Returns how many.
    """
    with manager.lock:
        groups = (
            manager.listeners_by_channel.values()
            if channel is None
            else [manager.listeners_by_channel.get(channel, ())]
        )
        listeners = {listener for group in groups for listener in group}
        for listener in listeners:
            listener.overflow = True
            listener.wake_threadsafe()
    return len(listeners)


class RelaySupervisor:
    """Keeps a web process's django-eventstream Redis relay subscribed, and its streams complete.

    The library starts its relay once and never again: when Redis was gone for longer than redis-py's own
    retries (a few seconds), the relay ended and the process streamed no live event until restarted. This
    runs the relay again with a backoff, and after every reconnection (redis-py's connect callback, or a
    restart here) the streams re-read storage, so each gets what was published meanwhile, once.
    """

    def __init__(self, manager):
        self.manager = manager
        self.reconnections = 0

    def reconnected(self, _connection=None) -> None:
        self.reconnections += 1
        RELAY_RECONNECTIONS.inc()
        count = restream_from_storage(self.manager)
        logger.info("the Redis relay reconnected; %d stream(s) re-read storage", count)

    async def run(self) -> None:
        relay = self.manager.redis_listener
        delay, longest = RELAY_RETRY_SECONDS
        failed = False
        while True:
            try:
                seen = self.reconnections
                await relay.pubsub.subscribe(LIBRARY_RELAY_CHANNEL)
                relay.pubsub.connection.register_connect_callback(self.reconnected)  # kept as a weak method
                if failed and self.reconnections == seen:  # a new connection: the callback came too late
                    self.reconnected()
                failed, delay = False, RELAY_RETRY_SECONDS[0]
                await relay.start()  # the library's loop: returns only by raising once retries are spent
            except Exception as exc:  # whatever ended it, the relay must come back
                logger.warning("the Redis relay lost Redis (%s); reconnecting in %.2f s", exc, delay)
                failed = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)


async def redis_relay_subscribed(manager=None, *, timeout: float = 2.0) -> bool:
    """Start this process's django-eventstream Redis relay, if it has one, and wait until it has subscribed.

    The library starts the relay lazily, when the first stream registers, and that stream reads storage at
    once: an event stored and published before the subscription reached Redis was missed, and the first
    stream of a web process could wait for a `done` that had already gone by. Streams call this first.
    The relay runs under a `RelaySupervisor`. This mirrors `ListenerManager.add_listener` and reads
    RedisListener's `pubsub`: the library's internals, checked by tests/api/test_sse_internals.py. False
    when the relay did not subscribe within `timeout`.
    """
    manager = manager or get_listener_manager()
    relay = manager.redis_listener
    if relay is None:
        return True  # one process: the library delivers events in-process
    loop = asyncio.get_running_loop()
    with manager.lock:
        if not manager.redis_listener_started:
            # the task keeps the supervisor alive: redis-py holds its connect callback only weakly
            task = loop.create_task(RelaySupervisor(manager).run())
            _relay_tasks.add(task)
            task.add_done_callback(_relay_tasks.discard)
            manager.redis_listener_started = True
    deadline = loop.time() + timeout
    while not relay.pubsub.channels:  # set once SUBSCRIBE has been sent
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


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
        TestRunChannelManager.allow(user, channel)
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
    if match is None or (match["channel"] and match["channel"] != channel):
        return 0
    return int(match["id"])


def resume_after(run, requested: int) -> int | None:
    """Where a watcher of `run` resumes: after `requested`, or from the start when that id never existed.

    None when the watcher already has the `done` event: there is nothing left to send.
    """
    from .models import TestRunEvent

    events_ = TestRunEvent.objects.filter(run=run)
    if requested and not events_.filter(seq=requested).exists():
        return 0
    if events_.filter(type="done", seq__lte=requested).exists():
        return None
    return requested


def resumed_events_response(request, channel: str, after: int | None, headers: dict) -> HttpResponse:
    """`channel`'s events after `after`, then live; None for `after` means the client already has `done`."""
    if after is None:  # an event stream with nothing left in it
        response = HttpResponse(b"", content_type="text/event-stream")
        for name, value in headers.items():
            response[name] = value
        release_connection()
        return response
    return event_stream_response(channel, request=request, after_id=after, headers=headers)


def run_events_response(request, run) -> HttpResponse:
    """The one re-attach path (API and admin): the run's events after the request's Last-Event-ID, then live."""
    after = resume_after(run, parse_last_event_id(request.headers.get("Last-Event-ID"), run.channel))
    return resumed_events_response(request, run.channel, after, {"X-Test-Run-ID": str(run.pk)})
