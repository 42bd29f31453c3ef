"""The periodic tick: reap interrupted runs and jobs, plan and start due health checks, deliver due notifications,
start queued test jobs.

The same `scheduler_tick` runs in both runtimes: in the distributed one Celery beat sends the
`destinations.tasks.scheduler_tick` task every SCHEDULER_TICK_SECONDS; in the embedded one a thread of a web
process runs it. Several web processes (on one host or many) may each start that thread, but only the one
holding the database's scheduler lease (election.py) ticks; when it stops renewing it, another takes over
within SCHEDULER_LEASE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import close_old_connections, connection

from ..jobs.background import reap_interrupted_jobs, test_jobs_start_queued
from ..runs.service import reap_interrupted_runs
from ..services.notifications import notifications_deliver_due
from .election import lease_release, lease_take, process_identity
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
    """Ticks every `tick_seconds` on a daemon thread while this process holds the database's scheduler lease."""

    def __init__(self, *, tick_seconds: float, lease_seconds: float):
        self.identity = process_identity()
        self.tick_seconds = tick_seconds
        self.lease_seconds = lease_seconds
        self.is_leader = False
        self._last_holder: str | None = None  # what was last logged, so a follower says it once per change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedScheduler:
        self._thread = threading.Thread(target=self._loop, name="embedded-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.is_leader:
            self.is_leader = False
            try:
                lease_release(holder=self.identity)
            finally:
                connection.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            close_old_connections()
            try:
                if self._elect():
                    scheduler_tick()
            except Exception:  # a failing tick must not end the scheduler
                logger.exception("scheduler tick failed")
            finally:
                connection.close()
            self._stop.wait(self.tick_seconds)

    def _elect(self) -> bool:
        try:
            election = lease_take(holder=self.identity, seconds=self.lease_seconds)
        except Exception as exc:  # the database is unreachable: tick nowhere rather than twice
            if self.is_leader or self._last_holder != "unreachable":
                logger.warning(
                    "this process (%s) stops running the embedded scheduler: it cannot renew the scheduler lease "
                    "in the database (%s); it tries again every %ss",
                    self.identity,
                    exc,
                    self.tick_seconds,
                )
            self.is_leader, self._last_holder = False, "unreachable"
            return False
        if election.elected and not self.is_leader:
            logger.info("this process (%s) runs the embedded scheduler for this database", self.identity)
        elif not election.elected and election.holder != self._last_holder:
            logger.info(
                "this process (%s) does not run the embedded scheduler: %s holds the scheduler lease of this "
                "database until %s and renews it every tick; this process takes over if it stops",
                self.identity,
                election.holder,
                election.expires_at.isoformat(),
            )
        self.is_leader, self._last_holder = election.elected, election.holder
        return election.elected


_embedded: EmbeddedScheduler | None = None


def start_embedded_scheduler() -> EmbeddedScheduler | None:
    """Called by the web entry points: in the embedded runtime, one scheduler thread per process."""
    global _embedded
    if settings.CONNECTION_TEST_RUNTIME != "embedded" or not settings.EMBEDDED_SCHEDULER or _embedded is not None:
        return _embedded
    _embedded = EmbeddedScheduler(
        tick_seconds=settings.SCHEDULER_TICK_SECONDS, lease_seconds=settings.SCHEDULER_LEASE_SECONDS
    ).start()
    return _embedded
