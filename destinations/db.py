"""A thread's database connection: when to give it back, and how big the pool is; and the heartbeat thread
that stamps the rows a process is executing."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

# What a request meets while the database is down or restarting (no connection, one cut, the pool timing
# out): a 503 with Retry-After, not a 500 (destinations/api/errors.py, zeotap_composable/middleware.py).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable (restarting or unreachable); try again shortly."
DATABASE_RETRY_AFTER_SECONDS = 5


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


class Heartbeat:
    """One thread per process stamps `heartbeat_at` on every row of `model` (runs, jobs) it is executing.

    One UPDATE per interval for all of them, and it keeps beating while a step waits on a slow vendor.
    """

    def __init__(self, model):
        self._model = model
        self._lock = threading.Lock()
        self._running: dict = {}
        self._thread: threading.Thread | None = None

    def beating(self, run_id):
        heartbeat = self

        class _Beating:
            def __enter__(self):
                with heartbeat._lock:
                    heartbeat._running[run_id] = heartbeat._running.get(run_id, 0) + 1
                    if heartbeat._thread is None or not heartbeat._thread.is_alive():
                        heartbeat._thread = threading.Thread(
                            target=heartbeat._beat, name=f"{heartbeat._model.__name__}-heartbeat", daemon=True
                        )
                        heartbeat._thread.start()

            def __exit__(self, *exc):
                with heartbeat._lock:
                    heartbeat._running[run_id] -= 1
                    if not heartbeat._running[run_id]:
                        del heartbeat._running[run_id]

        return _Beating()

    def _beat(self) -> None:
        while True:
            time.sleep(settings.CONNECTION_TEST_HEARTBEAT_SECONDS)
            with self._lock:
                running = list(self._running)
            if not running:
                continue
            try:
                self._model.objects.filter(pk__in=running, finished_at__isnull=True).update(heartbeat_at=timezone.now())
            except Exception:
                logger.exception("could not record the heartbeat of %d running %s", len(running), self._model.__name__)
            finally:
                connection.close()
