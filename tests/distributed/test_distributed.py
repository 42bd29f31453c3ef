"""The distributed runtime end to end: tests run on Celery workers, events reach every web process through
Redis, a killed worker's run ends `interrupted`, a restarted web process is re-attached to, a down broker is a 503."""

import time

import pytest

from destinations.models import Destination, TestRun, TestRunEvent
from tests.distributed.conftest import Client, Collector
from tests.factories import DestinationFactory
from tests.hooks import hold_delivery
from tests.topology import Web

pytestmark = [pytest.mark.distributed, pytest.mark.django_db(transaction=True)]

STREAM = {"stream": True, "headers": {"Accept": "text/event-stream"}}


def hooks(api, receiver, count):
    """`count` stored webhook destinations of the workspace, delivering to `receiver` with its key."""
    return [
        DestinationFactory(
            workspace=api.workspace,
            config={"url": f"{receiver.url}/hooks/in"},
            secrets={"headers": {"X-API-Key": "k-123"}},
        )
        for _ in range(count)
    ]


def webhook_body(receiver):
    return {
        "destination_type": "webhook",
        "config": {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": "k-123"}},
    }


def test_a_run_on_a_worker_streams_live_to_the_poster_and_a_watcher_on_another_web_process(topology, api, receiver):
    release = hold_delivery(receiver)
    first, second = topology.web(), topology.web()
    topology.worker()
    destination = hooks(api, receiver, 1)[0]
    posted = Collector(Client(api, first).post(f"destinations/{destination.pk}/test", stream=True))
    run_id = posted.response.headers["X-Test-Run-ID"]
    posted.start()
    posted.wait_for(1)
    watcher = Collector(Client(api, second).get(f"destinations/test-runs/{run_id}/events", stream=True))
    watcher.start()
    watcher.wait_for(1)  # the replayed first step
    time.sleep(0.3)
    released = time.monotonic()
    release.set()
    posted.join(15)
    watcher.join(15)

    for collector in (posted, watcher):
        assert [(e.type, e.id) for e, _ in collector.events] == [
            ("step", f"testrun-{TestRun.objects.get().id}:1"),
            ("step", f"testrun-{TestRun.objects.get().id}:2"),
            ("done", f"testrun-{TestRun.objects.get().id}:3"),
        ]
        # the held step's event reaches both web processes live (not by polling storage)
        assert collector.events[1][1] - released < 1.0
    done = posted.events[-1][0].data
    assert done["success"] is True and done["destination"]["status"] == "connected"
    destination.refresh_from_db()
    assert destination.status == "connected"
    run = TestRun.objects.get()
    assert run.success is True and run.finished_at is not None


def test_a_worker_killed_mid_step_ends_the_run_interrupted_and_leaves_the_status(topology, api, receiver):
    hold_delivery(receiver)  # the delivery step never answers while the worker lives
    reaper_settings = {"CONNECTION_TEST_HEARTBEAT_SECONDS": 0.5, "CONNECTION_TEST_STALE_SECONDS": 3}
    web = topology.web()
    doomed = topology.worker(env=reaper_settings)
    destination = hooks(api, receiver, 1)[0]
    stream = Collector(Client(api, web).post(f"destinations/{destination.pk}/test", stream=True))
    stream.start()
    stream.wait_for(1)
    doomed.kill()
    killed = time.monotonic()
    # a surviving worker runs the schedule: the reaper ends the run
    topology.worker(beat=True, env={**reaper_settings, "CONNECTION_TEST_REAP_INTERVAL_SECONDS": 0.5})
    stream.wait_for(2, timeout=60)
    stream.join(10)
    assert time.monotonic() - killed < 60
    assert [e.type for e, _ in stream.events] == ["step", "done"]
    done = stream.events[-1][0].data
    assert done["success"] is False and done["error_code"] == "interrupted"
    assert [step["name"] for step in done["steps"]] == ["connectivity"]
    run = TestRun.objects.get()
    assert run.success is False and run.error_code == "interrupted" and run.finished_at is not None
    destination.refresh_from_db()
    assert destination.status == "pending" and destination.last_tested_at is None


def test_a_jobs_tests_are_tasks_spread_over_the_workers(topology, api, receiver):
    release = hold_delivery(receiver)
    web = topology.web()
    workers = [topology.worker(concurrency=2), topology.worker(concurrency=2)]
    hooks(api, receiver, 4)
    client = Client(api, web)
    job = client.post("destinations/test-jobs", {"all": True, "concurrency": 4}).json()
    deadline = time.monotonic() + 30
    while TestRun.objects.filter(heartbeat_at__isnull=False).count() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # the job's runner takes one thread: three of its tests run at once
    release.set()
    progress = Collector(client.get(f"destinations/test-jobs/{job['id']}/events", stream=True))
    progress.run()
    assert progress.events[-1][0].type == "done" and progress.events[-1][0].data["passed"] == 4
    ran = [worker.output().count("destinations.tasks.connection_test_run[") for worker in workers]
    assert all(ran), ran  # each worker ran some of the job's tests, each a task of its own
    assert set(TestRun.objects.values_list("trigger", flat=True)) == {"job"}


def test_a_job_finishes_on_a_worker_with_a_single_thread(topology, api, receiver):
    web = topology.web()
    topology.worker(concurrency=1)  # the runner must not hold the one thread its tests need
    hooks(api, receiver, 2)
    client = Client(api, web)
    job = client.post("destinations/test-jobs", {"all": True, "concurrency": 2}).json()
    progress = Collector(client.get(f"destinations/test-jobs/{job['id']}/events", stream=True))
    progress.start()
    progress.join(30)
    assert [e.type for e, _ in progress.events] == ["result", "result", "done"]
    assert progress.events[-1][0].data["passed"] == 2


def test_a_worker_killed_mid_job_ends_the_job_with_its_untested_items_interrupted(topology, api, receiver):
    hold_delivery(receiver)  # the first destination's delivery step never answers while the worker lives
    reaper_settings = {"CONNECTION_TEST_HEARTBEAT_SECONDS": 0.5, "CONNECTION_TEST_STALE_SECONDS": 3}
    web = topology.web()
    doomed = topology.worker(env=reaper_settings)
    hooks(api, receiver, 2)
    client = Client(api, web)
    job = client.post("destinations/test-jobs", {"all": True, "concurrency": 1}).json()
    progress = Collector(client.get(f"destinations/test-jobs/{job['id']}/events", stream=True))
    progress.start()
    deadline = time.monotonic() + 30
    while not TestRun.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the job's first test is in its held delivery step
    doomed.kill()
    killed = time.monotonic()
    topology.worker(beat=True, env={**reaper_settings, "CONNECTION_TEST_REAP_INTERVAL_SECONDS": 0.5})
    progress.wait_for(1, timeout=60)
    progress.join(10)
    assert time.monotonic() - killed < 60
    # the run it was in the middle of was reaped too, and the job takes that result
    assert [e.type for e, _ in progress.events] == ["result", "done"]
    body = client.get(f"destinations/test-jobs/{job['id']}").json()
    assert (body["state"], body["done"], body["failed"]) == ("done", 2, 2)
    assert {r["error_code"] for r in body["results"]} == {"interrupted"}
    assert TestRun.objects.get().error_code == "interrupted"  # the run it was in the middle of


def test_a_web_process_restarted_mid_stream_is_reattached_after_the_last_event_id(topology, api, receiver):
    release = hold_delivery(receiver)
    web = topology.web()
    topology.worker()
    stream = Collector(Client(api, web).post("destinations/test", webhook_body(receiver), stream=True))
    run_id = stream.response.headers["X-Test-Run-ID"]
    stream.start()
    stream.wait_for(1)
    last_id = stream.events[-1][0].id
    web.kill()
    stream.join(10)
    restarted = topology.web(port=web.port)
    release.set()
    time.sleep(0.5)  # the run finishes while no client is attached
    rest = Collector(
        Client(api, restarted).get(
            f"destinations/test-runs/{run_id}/events", headers={"Last-Event-ID": last_id}, stream=True
        )
    )
    rest.run()
    ids = [e.id for e, _ in stream.events] + [e.id for e, _ in rest.events]
    assert [int(i.rsplit(":", 1)[1]) for i in ids] == [1, 2, 3]
    assert [e.type for e, _ in rest.events] == ["step", "done"]
    assert TestRunEvent.objects.filter(run_id=run_id).count() == 3


@pytest.mark.parametrize("down", ["broker", "redis"])
def test_a_down_broker_is_a_quick_503_with_retry_after_and_leaves_no_run(topology, api, receiver, down):
    from tests.topology import free_port, process_env

    dead = f"redis://127.0.0.1:{free_port()}/0"
    if down == "broker":  # the cache answers, the queue does not: the run is recorded, then removed
        env = process_env(database=topology.database, redis_url=topology.redis_url, CELERY_BROKER_URL=dead)
    else:  # all of Redis is down (rate limits and cache included)
        env = process_env(database=topology.database, redis_url=dead)
    with Web(env) as web:
        started = time.monotonic()
        response = Client(api, web).post("destinations/test", webhook_body(receiver))
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0 and "detail" in response.json()
    assert elapsed < 10
    assert not TestRun.objects.exists() and not Destination.objects.exists()


def test_the_fields_cache_is_shared_by_every_web_process(topology, api):
    import json

    from tests.emulators.hubspot import HubSpotEmulator, valid_config

    with HubSpotEmulator() as hubspot:
        base_urls = json.dumps({"hubspot": hubspot.url})
        first, second = topology.web(CONNECTOR_BASE_URLS=base_urls), topology.web(CONNECTOR_BASE_URLS=base_urls)
        body = {"name": "CRM", "destination_type": "hubspot", "config": valid_config(hubspot)}
        destination_id = Client(api, first).post("destinations", body).json()["id"]
        path = f"destinations/{destination_id}/fields"
        fetched = Client(api, first).get(path).json()
        assert Client(api, second).get(path).json() == fetched
        assert len(hubspot.calls_to("properties")) == 1  # the second process read Redis, not the vendor
        assert Client(api, second).get(path, params={"refresh": "true"}).json()["fetched_at"] > fetched["fetched_at"]
        assert len(hubspot.calls_to("properties")) == 2


def test_redis_gone_mid_run_and_back_every_stream_ends_with_each_event_once(topology, api, receiver):
    """Redis away for longer than redis-py's retries, then back empty: the run is not failed by it, the
    stream gets the events stored meanwhile once Redis is back, and the web process relays live again."""
    from tests.topology import RedisServer

    redis = RedisServer().start()
    try:
        private = {"REDIS_URL": redis.url(), "SSE_MAX_STREAM_SECONDS": 120}
        release = hold_delivery(receiver)
        web = topology.web(**private)
        topology.worker(env=private)
        client = Client(api, web)
        stream = Collector(client.post("destinations/test", webhook_body(receiver), stream=True))
        stream.start()
        stream.wait_for(1)
        redis.stop()
        release.set()  # the delivery step and `done` are stored while nothing can relay them
        deadline = time.monotonic() + 30
        while not TestRun.objects.filter(finished_at__isnull=False).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # by now Redis has been gone longer than redis-py's retries (about 4 s)
        redis.start()
        back = time.monotonic()
        stream.wait_for(3, timeout=20)
        stream.join(5)
        assert stream.events[-1][1] - back < 10
        assert [e.type for e, _ in stream.events] == ["step", "step", "done"]
        assert [int(e.id.rsplit(":", 1)[1]) for e, _ in stream.events] == [1, 2, 3]
        assert stream.events[-1][0].data["success"] is True
        assert TestRun.objects.get().success is True

        # the same web process streams the next run live (the broker came back empty too: retry until queued)
        deadline = time.monotonic() + 30
        while (response := client.post("destinations/test", webhook_body(receiver), stream=True)).status_code == 503:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.5)
        again = Collector(response)
        again.run()
        assert [e.type for e, _ in again.events] == ["step", "step", "done"]
        assert again.events[-1][0].data["success"] is True
    finally:
        redis.stop()
