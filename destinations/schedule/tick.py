"""The periodic tick: reap interrupted runs and jobs, plan and start due health checks, deliver due notifications,
start queued test jobs.

The same `scheduler_tick` runs in both runtimes: in the distributed one Celery beat sends the
`destinations.tasks.scheduler_tick` task every SCHEDULER_TICK_SECONDS; in the embedded one a thread of a web
process runs it. Several web processes may each start that thread, but only the one holding the file lock
(SCHEDULER_LOCK_FILE) ticks; when it exits the lock is released and another takes over at its next try.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import close_old_connections, connection
from filelock import FileLock, Timeout

from ..jobs.background import reap_interrupted_jobs, test_jobs_start_queued
from ..runs.service import reap_interrupted_runs
from ..services.notifications import notifications_deliver_due
from .health_checks import health_checks_plan, health_checks_start

logger = logging.getLogger(__name__)


@dataclass
class TickReport:
    reaped: int = 0
    jobs_reaped: int = 0
    planned: int = 0
    started: int = 0
    capped: int = 0
    invalid: int = 0
    notifications_delivered: int = 0
    jobs_started: int = 0


def scheduler_tick() -> TickReport:
    report = TickReport(
        reaped=reap_interrupted_runs(), jobs_reaped=reap_interrupted_jobs(), planned=health_checks_plan()
    )
    started = health_checks_start()
    report.started, report.capped, report.invalid = len(started.started), started.capped, len(started.invalid)
    report.notifications_delivered = notifications_deliver_due()
    report.jobs_started = test_jobs_start_queued()
    if any(asdict(report).values()):
        logger.info("scheduler tick: %s", asdict(report))
    return report


class EmbeddedScheduler:
    """Ticks every `tick_seconds` on a daemon thread while this process holds the scheduler lock."""

    def __init__(self, *, lock_file: str, tick_seconds: float):
        self.lock = FileLock(lock_file, thread_local=False)
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self.lock.is_locked

    def start(self) -> EmbeddedScheduler:
        self._thread = threading.Thread(target=self._loop, name="embedded-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.lock.is_locked:
            self.lock.release(force=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.lock.is_locked:
                try:
                    self.lock.acquire(blocking=False)
                    logger.info("this process runs the embedded scheduler")
                except Timeout:
                    pass  # another process ticks
            if self.lock.is_locked:
                close_old_connections()
                try:
                    scheduler_tick()
                except Exception:  # a failing tick must not end the scheduler
                    logger.exception("scheduler tick failed")
                finally:
                    connection.close()
            self._stop.wait(self.tick_seconds)


_embedded: EmbeddedScheduler | None = None


def start_embedded_scheduler() -> EmbeddedScheduler | None:
    """Called by the web entry points: in the embedded runtime, one scheduler thread per process."""
    global _embedded
    if settings.CONNECTION_TEST_RUNTIME != "embedded" or not settings.EMBEDDED_SCHEDULER or _embedded is not None:
        return _embedded
    _embedded = EmbeddedScheduler(
        lock_file=settings.SCHEDULER_LOCK_FILE, tick_seconds=settings.SCHEDULER_TICK_SECONDS
    ).start()
    return _embedded
