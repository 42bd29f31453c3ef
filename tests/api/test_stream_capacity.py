"""200 concurrent streamed tests through a real uvicorn process whose database pool has 10 connections.

Streams and running tests hold no connection while they wait, so every stream ends with `done` and an
unrelated request made meanwhile is answered promptly (on PostgreSQL the pool used to deadlock at ~80).
"""

import threading
import time

import pytest
import requests
from django.db import connection

from tests.emulators.webhook import WebhookReceiver
from tests.sse import iter_events
from tests.topology import Web, database_url, process_env

pytestmark = pytest.mark.django_db(transaction=True)

STREAMS = 200


def test_200_concurrent_streams_all_finish_and_other_requests_answer(api):
    with WebhookReceiver() as receiver:
        receiver.slow("hook", 1.0)
        env = process_env(
            database=database_url(connection.settings_dict),
            redis_url=None,
            DB_POOL_MAX_SIZE=10,
            DB_POOL_TIMEOUT_SECONDS=10,
            CONNECTION_TEST_WORKERS=STREAMS,
        )
        headers = {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}
        body = {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}}
        outcomes = []

        with Web(env) as web:

            def one():
                try:
                    with requests.post(
                        f"{web.url}{api.path('destinations/test')}", json=body, headers=headers, stream=True, timeout=60
                    ) as response:
                        outcomes.append([e.type for e in iter_events(response)][-1:])
                except requests.RequestException as exc:
                    outcomes.append([type(exc).__name__])

            threads = [threading.Thread(target=one) for _ in range(STREAMS)]
            for thread in threads:
                thread.start()
            time.sleep(1.0)  # the streams are open and their tests are waiting on the receiver
            started = time.monotonic()
            listed = requests.get(f"{web.url}{api.path('destinations')}", headers=headers, timeout=30)
            list_seconds = time.monotonic() - started
            for thread in threads:
                thread.join(90)
    assert listed.status_code == 200
    assert list_seconds < 10
    assert outcomes.count(["done"]) == STREAMS, {str(o) for o in outcomes}
