"""The Redis relay of django-eventstream: publishing a stored event, and keeping each web process's relay
subscribed and its streams complete.

With `EVENTSTREAM_REDIS` set (distributed runtime) the library relays each event over Redis pub/sub to every
web process, so a run produced by any worker streams live on any of them; nothing polls. Storage is the
record: when Redis is lost, events are still stored, and the relay reconnects and has its streams re-read
storage (RelaySupervisor). These lean on the library's internals, checked by tests/api/test_sse_internals.py.
"""

from __future__ import annotations

import asyncio
import logging

from django_eventstream import send_event
from django_eventstream.views import get_listener_manager
from redis.exceptions import RedisError

from ..metrics import EVENTS_UNRELAYED, RELAY_RECONNECTIONS

logger = logging.getLogger(__name__)

_relay_tasks: set[asyncio.Task] = set()
# The pub/sub channel django-eventstream's send_event publishes on and its RedisListener subscribes to.
LIBRARY_RELAY_CHANNEL = "events_channel"
RELAY_RETRY_SECONDS = (0.25, 5.0)  # first and longest wait between attempts to reconnect the relay


def send_stored_event(channel: str, event_type: str, data) -> None:
    """`send_event` for our stored channels: the event is stored, then relayed over Redis when configured.

    If Redis cannot take the relay, the event is stored all the same and the run goes on: the relays of the
    web processes lost Redis too, and their streams re-read storage when they reconnect (`RelaySupervisor`).
    """
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
