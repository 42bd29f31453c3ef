"""Celery tasks of the distributed runtime: the same connection-test service code, run on a worker."""

from __future__ import annotations

from celery import shared_task

from .crypto import decrypt_json
from .models import TestRun


@shared_task(name="destinations.tasks.connection_test_run", ignore_result=True)
def connection_test_run(test_run_id: str, sealed_config: str) -> None:
    """Run a prepared test; the effective config arrives encrypted with the service's keys."""
    from .testing import PreparedTest, connection_test_claim, connection_test_execute

    test_run = TestRun.objects.filter(pk=test_run_id).first()
    if test_run is None or not connection_test_claim(test_run):
        return  # removed, or already ended (reaped while queued)
    connection_test_execute(PreparedTest(test_run, decrypt_json(sealed_config)))


@shared_task(name="destinations.tasks.reap_interrupted_runs_task", ignore_result=True)
def reap_interrupted_runs_task() -> int:
    """End the runs and jobs whose worker died (celery beat sends this every CONNECTION_TEST_REAP_INTERVAL_SECONDS)."""
    from .jobs import reap_interrupted_jobs
    from .testing import reap_interrupted_runs

    return reap_interrupted_runs() + reap_interrupted_jobs()


@shared_task(name="destinations.tasks.scheduler_tick", ignore_result=True)
def scheduler_tick() -> None:
    """Sent by Celery beat every SCHEDULER_TICK_SECONDS."""
    from .scheduler import scheduler_tick as tick

    tick()


@shared_task(name="destinations.tasks.run_test_job", ignore_result=True)
def run_test_job(job_id: str) -> None:
    """Start a job's runner on this worker (it returns at once; the runner's heartbeat guards the job)."""
    from .jobs import test_job_run_here

    test_job_run_here(job_id)
