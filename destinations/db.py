"""A thread's database connection: when to give it back, and how big the pool is."""

from __future__ import annotations

from django.db import connection


def database_pool_size() -> int | None:
    """The database connection pool's maximum size, when the connections are pooled (PostgreSQL)."""
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if not pool:
        return None
    return pool.get("max_size") if isinstance(pool, dict) else None


def release_connection() -> None:
    """Give this thread's database connection back (to the pool) unless a transaction needs it.

    Streams and workers wait for seconds between reads and writes; holding a connection each meant a few
    dozen of them exhausted the pool. SQLite has no server connections to run out of, and reopening its
    file costs more than the query, so its connection stays, unless it is broken.
    """
    if connection.in_atomic_block:
        return
    broken = connection.connection is not None and connection.errors_occurred and not connection.is_usable()
    if connection.vendor != "sqlite" or broken:
        connection.close()
