"""One Redis connection pool per process for Django's cache.

Under ASGI every request has its own asyncio context, so Django makes a new cache object, and with it a new
redis-py pool, for each request: every request paid a TCP connect and a handshake for its throttle and
auth-failure reads. Handing out one pool per URL and options keeps the connections open across requests.
redis-py's pool resets itself in a forked child, so prefork workers stay safe.
"""

from __future__ import annotations

import threading

from redis import ConnectionPool


class ProcessConnectionPool(ConnectionPool):
    _shared: dict[tuple, ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
        return pool
