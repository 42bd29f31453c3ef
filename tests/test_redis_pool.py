"""The Django cache's Redis pool is one per process, not one per request (zeotap_composable/redis_pool.py)."""

from django.core.cache.backends.redis import RedisCache

from zeotap_composable.redis_pool import ProcessConnectionPool

URL = "redis://127.0.0.1:6379/9"


def test_every_cache_object_of_a_url_shares_one_pool():
    options = {"OPTIONS": {"pool_class": "zeotap_composable.redis_pool.ProcessConnectionPool", "socket_timeout": 4}}
    # Under ASGI each request builds its own cache object, as these two do.
    first, second = RedisCache(URL, options), RedisCache(URL, options)
    assert first._cache.get_client().connection_pool is second._cache.get_client().connection_pool


def test_other_urls_or_options_get_their_own_pool():
    pool = ProcessConnectionPool.from_url(URL, socket_timeout=4)
    assert ProcessConnectionPool.from_url(URL, socket_timeout=4) is pool
    assert ProcessConnectionPool.from_url(URL, socket_timeout=5) is not pool
    assert ProcessConnectionPool.from_url("redis://127.0.0.1:6379/8", socket_timeout=4) is not pool
