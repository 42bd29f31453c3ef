"""The distributed runtime for real: Redis (REDIS_TEST_URL, a queue unique to this session), Celery worker and
uvicorn processes sharing this test run's database (a file for SQLite; the per-process test DB on PostgreSQL).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from tests.emulators.webhook import WebhookReceiver
from tests.sse import iter_events
from tests.topology import REDIS_TEST_URL, Web, Worker, database_url, process_env, redis_available


@pytest.fixture(scope="session")
def redis_url():
    if not redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL} (start it: redis-server --daemonize yes ...)")
    return REDIS_TEST_URL


@pytest.fixture
def topology(redis_url, transactional_db):
    """Start web processes and workers on demand; everything started is stopped at the end."""
    from django.db import connection

    redis_url_ = redis_url

    queue = f"tests-{uuid.uuid4().hex}"
    started = []

    class Topology:
        database = database_url(connection.settings_dict)
        redis_url = redis_url_

        def env(self, **extra):
            return process_env(database=self.database, redis_url=redis_url, queue=queue, **extra)

        def web(self, port=None, **extra) -> Web:
            process = Web(self.env(**extra), port=port)
            started.append(process)
            return process.start()

        def worker(self, **kwargs) -> Worker:
            extra = kwargs.pop("env", {})
            process = Worker(self.env(**extra), **kwargs)
            started.append(process)
            return process.start()

    yield Topology()
    for process in reversed(started):
        process.stop()


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": "k-123"}) as server:
        yield server


class Client:
    """Calls one web process of the topology as the API client `api` would."""

    def __init__(self, api, web):
        self.api, self.web = api, web
        self.headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}

    def post(self, suffix, body=None, **kwargs):
        return requests.post(
            f"{self.web.url}{self.api.path(suffix)}", json=body, headers=self.headers, timeout=30, **kwargs
        )

    def get(self, suffix, headers=None, **kwargs):
        return requests.get(
            f"{self.web.url}{self.api.path(suffix)}", headers={**self.headers, **(headers or {})}, timeout=30, **kwargs
        )


class Collector(threading.Thread):
    """Reads a live stream in the background, recording each event and when it arrived."""

    def __init__(self, response):
        super().__init__(daemon=True)
        self.response = response
        self.events: list[tuple] = []

    def run(self):
        try:
            for event in iter_events(self.response):
                self.events.append((event, time.monotonic()))
        except requests.RequestException:
            pass

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.events) >= count, [e.type for e, _ in self.events]
