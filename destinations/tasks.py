"""Celery entry: the tasks celery beat sends by name. The others live beside the code that enqueues them
(`connection_test_run` in runs.runtime, `run_test_job` in jobs.background); importing them here registers them
with a worker. Task names are a wire contract: they stay `destinations.tasks.*` wherever the code lives.
"""

from __future__ import annotations

from celery import shared_task

from .jobs.background import reap_interrupted_jobs, run_test_job
from .runs.runtime import connection_test_run
from .runs.service import reap_interrupted_runs
from .schedule.tick import scheduler_tick as tick

__all__ = ["connection_test_run", "reap_interrupted_runs_task", "run_test_job", "scheduler_tick"]


@shared_task(name="destinations.tasks.reap_interrupted_runs_task", ignore_result=True)
def reap_interrupted_runs_task() -> int:
    """End the runs and jobs whose worker died (celery beat sends this every CONNECTION_TEST_REAP_INTERVAL_SECONDS)."""
    return reap_interrupted_runs() + reap_interrupted_jobs()


@shared_task(name="destinations.tasks.scheduler_tick", ignore_result=True)
def scheduler_tick() -> None:
    """Sent by Celery beat every SCHEDULER_TICK_SECONDS."""
    tick()
