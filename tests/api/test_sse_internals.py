"""What our event streams and storage rely on in django-eventstream's public `events` view; fails when it changes."""

import asyncio

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.utils import timezone
from django_eventstream import send_event
from django_eventstream.views import events

from destinations.db import release_connection
from destinations.events.streams import parse_last_event_id
from destinations.models import TestRun

pytestmark = pytest.mark.django_db(transaction=True)


def _chunks(request, channel, count):
    async def read():
        response = events(request, channels=[channel])
        out = []
        stream = aiter(response.streaming_content)
        for _ in range(count):
            out.append((await asyncio.wait_for(anext(stream), 5)).decode())
        await stream.aclose()
        return out

    return asyncio.run(read())


def test_the_view_pads_opens_then_sends_stored_events_with_channel_ids(api):
    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    send_event(run.channel, "step", {"name": "connectivity"})
    request = HttpRequest()
    request.META = {"HTTP_LAST_EVENT_ID": f"{run.channel}:0"}
    request.user = api.user
    (first,) = _chunks(request, run.channel, 1)
    padding, opened, stored, _ = first.split("\n\n")
    assert padding.startswith(":") and not padding.strip(": ")
    assert opened == "event: stream-open\ndata:"
    assert stored == f'event: step\nid: {run.channel}:1\ndata: {{"name": "connectivity"}}'


def test_the_channel_manager_refuses_a_reader_outside_the_workspace(api, other_api):
    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    for user in (other_api.user, AnonymousUser()):
        request = HttpRequest()
        request.META = {"HTTP_LAST_EVENT_ID": f"{run.channel}:0"}
        request.user = user
        (first,) = _chunks(request, run.channel, 1)
        assert "event: stream-error" in first and '"condition": "forbidden"' in first


@pytest.mark.parametrize("value", ["²", "¹²", "9" * 4400, "testrun-xyz:1", "a:b:c", "-1", " ", "\x00"])
def test_a_malformed_last_event_id_restarts_the_run(value):
    assert parse_last_event_id(value, "testrun-" + "0" * 32) == 0


def test_release_connection_keeps_a_transaction_open(db):
    from django.db import connection, transaction

    with transaction.atomic():
        TestRun.objects.exists()
        release_connection()
        assert connection.connection is not None
    release_connection()


def test_a_granted_reader_is_asked_about_again_once_the_answer_is_old(api, monkeypatch):
    from destinations.events.storage import ChannelManager as TestRunChannelManager
    from workspaces.models import Membership

    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    manager = TestRunChannelManager()
    TestRunChannelManager.allow(api.user, run.channel)  # as a view that found the run in the user's scope
    Membership.objects.filter(user=api.user).delete()
    assert TestRunChannelManager().can_read_channel(api.user, run.channel)  # shared by every thread's instance
    monkeypatch.setattr(TestRunChannelManager, "ALLOWED_SECONDS", 0)
    TestRunChannelManager.allow(api.user, run.channel)
    assert not manager.can_read_channel(api.user, run.channel)


def test_a_freshly_claimed_run_numbers_its_events_from_one_with_one_insert_each(api, django_assert_num_queries):
    from destinations.models import TestRunEvent
    from destinations.runs.runtime import connection_test_claim

    fresh = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    assert connection_test_claim(fresh)
    with django_assert_num_queries(1):
        send_event(fresh.channel, "step", {"name": "connectivity"})
    # A run claimed before (a second delivery) may have events: its numbering continues from them.
    started = TestRun.objects.create(
        workspace=api.workspace, destination_type="webhook", actor=api.user, heartbeat_at=timezone.now()
    )
    TestRunEvent.objects.create(run=started, seq=1, type="step", data="{}")
    assert connection_test_claim(started)
    send_event(started.channel, "step", {"name": "delivery"})
    assert list(TestRunEvent.objects.filter(run=fresh).values_list("seq", flat=True)) == [1]
    assert list(TestRunEvent.objects.filter(run=started).values_list("seq", flat=True)) == [1, 2]


def test_the_redis_relay_is_subscribed_before_a_stream_reads_and_relays_to_local_listeners(settings):
    """The library's internals that redis_relay_subscribed relies on: fails when they change."""
    import json

    import redis.asyncio
    from django_eventstream.views import Listener, ListenerManager, get_listener_manager

    from destinations.events.relay import redis_relay_subscribed
    from tests.topology import REDIS_TEST_URL, redis_available

    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}")
    from redis.connection import parse_url

    settings.EVENTSTREAM_REDIS = parse_url(REDIS_TEST_URL)
    relaying = ListenerManager()  # as a web process of the distributed runtime has
    channel = "testrun-" + "1" * 32

    async def scenario():
        assert relaying.redis_listener is not None and not relaying.redis_listener_started
        assert await redis_relay_subscribed(relaying)
        assert relaying.redis_listener_started
        listener = Listener()
        listener.channels = {channel}
        listener.assign_loop()
        get_listener_manager().add_listener(listener)  # the relay hands events to the process's manager
        try:
            message = {"channel": channel, "event_type": "step", "data": '{"name": "connectivity"}', "pub_id": "1"}
            await redis.asyncio.Redis.from_url(REDIS_TEST_URL).publish("events_channel", json.dumps(message))
            await asyncio.wait_for(listener.aevent.wait(), 5)
            (event,) = listener.channel_items[channel]
            assert (event.type, event.id) == ("step", "1")
        finally:
            get_listener_manager().remove_listener(listener)

    asyncio.run(scenario())


def test_a_stream_flagged_by_restream_from_storage_reads_what_was_stored_meanwhile(api):
    """The library's overflow path that restream_from_storage relies on: fails when it changes."""
    from asgiref.sync import sync_to_async
    from django_eventstream.views import get_listener_manager

    from destinations.events.relay import restream_from_storage
    from destinations.events.storage import EventStorage as TestRunEventStorage

    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    request = HttpRequest()
    request.META = {"HTTP_LAST_EVENT_ID": f"{run.channel}:0"}
    request.user = api.user

    async def scenario():
        stream = aiter(events(request, channels=[run.channel]).streaming_content)
        try:
            opened = (await asyncio.wait_for(anext(stream), 5)).decode()
            assert "event: step" not in opened
            # stored, and relayed while this process's relay was disconnected: no listener was told
            await sync_to_async(TestRunEventStorage().append_event)(run.channel, "step", '{"name": "connectivity"}')
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # nothing polls storage
            assert restream_from_storage(get_listener_manager()) == 1
            chunk = (await asyncio.wait_for(waiting, 5)).decode()
            assert f'event: step\nid: {run.channel}:1\ndata: {{"name": "connectivity"}}' in chunk
        finally:
            await stream.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("outage", ["within redis-py's retries", "longer than its retries"])
def test_the_relay_comes_back_after_redis_was_gone_and_its_streams_re_read_storage(settings, caplog, outage):
    """A short outage: redis-py reconnects the relay itself (its connect callback tells the supervisor). A
    long one: the library's relay ends once redis-py's retries are spent, and the supervisor runs it again.
    Either way the streams re-read storage. Also checks the library's internals the supervisor relies on."""
    import json
    import logging

    import redis.asyncio
    from django_eventstream.views import Listener, ListenerManager, get_listener_manager
    from redis.connection import parse_url

    from destinations.events.relay import LIBRARY_RELAY_CHANNEL, redis_relay_subscribed
    from tests.topology import RedisServer

    server = RedisServer().start()
    settings.EVENTSTREAM_REDIS = parse_url(server.url())
    relaying = ListenerManager()
    channel = "testrun-" + "2" * 32
    caplog.set_level(logging.INFO, logger="destinations.events.relay")

    async def wait_until(predicate, timeout):
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)

    async def scenario():
        assert await redis_relay_subscribed(relaying)
        listener = Listener()
        listener.channels = {channel}
        listener.assign_loop()
        relaying.add_listener(listener)  # the supervisor's manager: streams to re-read storage
        get_listener_manager().add_listener(listener)  # the relay hands events to the process's manager
        try:
            server.stop()
            if outage.startswith("longer"):
                await wait_until(lambda: "the Redis relay lost Redis" in caplog.text, 20)  # the library's loop ended
            else:
                await asyncio.sleep(0.3)
            await asyncio.to_thread(server.start)
            await wait_until(lambda: listener.overflow and listener.aevent.is_set(), 20)
            assert "stream(s) re-read storage" in caplog.text
            assert ("the Redis relay lost Redis" in caplog.text) == outage.startswith("longer")
            listener.aevent.clear()
            message = {"channel": channel, "event_type": "step", "data": "{}", "pub_id": "7"}
            await redis.asyncio.Redis.from_url(server.url()).publish(LIBRARY_RELAY_CHANNEL, json.dumps(message))
            await asyncio.wait_for(listener.aevent.wait(), 5)  # relayed live again
            assert [event.id for event in listener.channel_items[channel]] == ["7"]
        finally:
            relaying.remove_listener(listener)
            get_listener_manager().remove_listener(listener)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_quiet_stream_reads_an_unrelayed_event_at_the_next_keep_alive(api):
    """A worker's publish failed while this process kept its relay: the stored event still arrives, within the
    library's 20 s keep-alive, and once. Fails when the library's keep-alive changes or stops arriving."""
    import time

    from asgiref.sync import sync_to_async

    from destinations.events.storage import EventStorage as TestRunEventStorage
    from destinations.events.streams import event_stream_response

    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    request = HttpRequest()
    request.user = api.user

    response = event_stream_response(run.channel, request=request)  # as the sync view builds it

    async def scenario():
        stream = aiter(response.streaming_content)
        try:
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.3)  # the stream has read storage and waits
            await sync_to_async(TestRunEventStorage().append_event)(run.channel, "step", '{"name": "connectivity"}')
            started = time.monotonic()
            received = ""
            while "event: step" not in received and time.monotonic() - started < 25:
                received += (await asyncio.wait_for(waiting, 25)).decode()
                waiting = asyncio.ensure_future(anext(stream))
            assert received.count("event: step") == 1 and ": keep-alive" in received
            assert time.monotonic() - started < 21
            waiting.cancel()
        finally:
            await stream.aclose()

    asyncio.run(scenario())
