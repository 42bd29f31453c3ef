"""The distributed runtime's cache (django-redis): one pool per process, one client per cache object.

Under ASGI Django builds a cache object per request; Django's own RedisCache then made a redis-py pool per
request (a TCP connect and handshake for every throttle read) and a client per operation.
"""

import pytest
from django_redis.cache import RedisCache

from tests.topology import redis_available

URL = "redis://127.0.0.1:6379/9"
OPTIONS = {"OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 4}}

pytestmark = pytest.mark.skipif(not redis_available(URL), reason="needs Redis on 127.0.0.1:6379")


def test_every_cache_object_of_a_url_shares_one_pool_and_keeps_its_client():
    first, second = RedisCache(URL, OPTIONS), RedisCache(URL, OPTIONS)  # as two requests build them
    first.set("shared", 1)
    assert second.get("shared") == 1
    assert first.client.get_client() is first.client.get_client()
    assert first.client.get_client().connection_pool is second.client.get_client().connection_pool


def test_another_url_gets_its_own_pool_and_the_timeouts_apply():
    pool = RedisCache(URL, OPTIONS).client.get_client().connection_pool
    assert RedisCache("redis://127.0.0.1:6379/8", OPTIONS).client.get_client().connection_pool is not pool
    assert pool.connection_kwargs["socket_connect_timeout"] == 2
    assert pool.connection_kwargs["socket_timeout"] == 4  # Redis down fails fast: a 503, not a hung request
