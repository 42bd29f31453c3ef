"""A test job as the API, the admin and its progress events show it."""

from __future__ import annotations

from django.db.models import Count, Q

from ..models import TestJob, TestJobItem, TestJobItemState
from ..representation import iso_z


def test_job_counts(job: TestJob) -> dict:
    counts = TestJobItem.objects.filter(job=job).aggregate(
        passed=Count("pk", filter=Q(state=TestJobItemState.PASSED)),
        failed=Count("pk", filter=Q(state=TestJobItemState.FAILED)),
        missing=Count("pk", filter=Q(state=TestJobItemState.MISSING)),
    )
    done = counts["passed"] + counts["failed"] + counts["missing"]
    return {"job_id": str(job.pk), "total": job.total, "done": done, **counts}


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


def test_job_as_dict(job: TestJob, *, results: bool = True) -> dict:
    counts = test_job_counts(job)
    body = {
        "id": str(job.pk),
        "workspace_id": str(job.workspace_id),
        "state": job.state,
        "trigger": job.trigger,
        "selection": job.selection,
        "concurrency": job.concurrency,
        "total": job.total,
        "done": counts["done"],
        "passed": counts["passed"],
        "failed": counts["failed"],
        "missing": counts["missing"],
        "created_at": iso_z(job.created_at),
        "started_at": iso_z(job.started_at),
        "finished_at": iso_z(job.finished_at),
    }
    if results:
        body["results"] = [test_job_item_as_dict(item) for item in job.items.all()]
    return body
