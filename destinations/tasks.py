"""Celery tasks of the distributed runtime (found by the app's autodiscovery)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="destinations.tasks.scheduler_tick", ignore_result=True)
def scheduler_tick() -> None:
    """Sent by Celery beat every SCHEDULER_TICK_SECONDS."""
    from .scheduler import scheduler_tick as tick

    tick()


@shared_task(name="destinations.tasks.run_test_job", ignore_result=True, acks_late=True)
def run_test_job(job_id: str) -> None:
    from .jobs import test_job_run

    test_job_run(job_id=job_id)
