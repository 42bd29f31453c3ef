"""The ASGI entry point speaks the lifespan protocol, so uvicorn starts without reporting it unsupported."""

import asyncio

import pytest
from django.db import connection

from tests.topology import Web, database_url, process_env
from zeotap_composable.asgi import application


def test_the_lifespan_protocol_completes_startup_and_shutdown():
    sent = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    asyncio.run(application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.django_db(transaction=True)
def test_uvicorn_starts_without_the_lifespan_warning():
    env = process_env(database=database_url(connection.settings_dict), redis_url=None)
    with Web(env, access_log=True) as web:
        log = web.output()
    assert "Application startup complete" in log
    assert "lifespan" not in log.lower()
