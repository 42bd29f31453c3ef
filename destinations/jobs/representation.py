"""A test job as the API, the admin and its progress events show it."""

from __future__ import annotations

from ..models import TestJob, TestJobItem
from ..representation import iso_z

RESULTS_PAGE, RESULTS_MAX = 100, 1000  # results in one answer about a job, unless `limit` says otherwise


def test_job_counts(job: TestJob) -> dict:
    """The job's progress now: its kept counters, read afresh (one row, whatever the job's size)."""
    counts = TestJob.objects.filter(pk=job.pk).values("total", "passed", "failed", "missing").first() or {
        "total": job.total,
        "passed": job.passed,
        "failed": job.failed,
        "missing": job.missing,
    }
    done = counts["passed"] + counts["failed"] + counts["missing"]
    return {"job_id": str(job.pk), "total": counts["total"], "done": done, **counts}


def test_job_item_as_dict(item: TestJobItem) -> dict:
    return {
        "destination_id": str(item.destination_id) if item.destination_id else None,
        "name": item.destination_name,
        "destination_type": item.destination_type,
        "state": item.state,
        "failed_step": item.failed_step or None,
        "error_code": item.error_code or None,
        "message": item.message,
        "duration_ms": item.duration_ms,
        "test_run_id": str(item.test_run_id) if item.test_run_id else None,
    }


def test_job_as_dict(job: TestJob, *, results: list[TestJobItem] | None = None) -> dict:
    """The job as read into `job` (its counters included); with `results`, those items' results (a page)."""
    body = {
        "id": str(job.pk),
        "workspace_id": str(job.workspace_id),
        "state": job.state,
        "trigger": job.trigger,
        "selection": job.selection,
        "concurrency": job.concurrency,
        "total": job.total,
        "done": job.passed + job.failed + job.missing,
        "passed": job.passed,
        "failed": job.failed,
        "missing": job.missing,
        "created_at": iso_z(job.created_at),
        "started_at": iso_z(job.started_at),
        "finished_at": iso_z(job.finished_at),
    }
    if results is not None:
        body["results"] = [test_job_item_as_dict(item) for item in results]
    return body
