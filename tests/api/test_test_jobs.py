"""Bulk tests as jobs over the API: 202 with the job, progress and per-destination results, SSE progress,
workspace scoping and roles."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.jobs import background as jobs
from destinations.models import Destination, DestinationStatus, TestJob, TestRun
from destinations.models import TestRunTrigger as Trigger
from tests import sse
from tests.factories import DestinationFactory
from tests.hooks import hook, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def jobs_path(api, suffix=""):
    return api.path(f"destinations/test-jobs{suffix}")


def wait_done(api, job_id):
    def finished():
        body = api.get(jobs_path(api, f"/{job_id}")).json()
        return body if body["state"] == "done" else None

    return wait_for(finished, timeout=15)


def test_a_job_is_accepted_then_reports_progress_and_results(api, receiver):
    good = [hook(receiver, workspace=api.workspace) for _ in range(3)]
    bad = hook(receiver, key="wrong", workspace=api.workspace)
    hook(receiver)  # another workspace: never part of the job

    response = api.post(jobs_path(api), {"all": True}, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"].endswith(f"/destinations/test-jobs/{job['id']}")
    assert job["total"] == 4 and job["state"] in ("queued", "running", "done")
    assert {r["state"] for r in job["results"]} <= {"queued", "passed", "failed"}

    done = wait_done(api, job["id"])
    assert (done["total"], done["done"], done["passed"], done["failed"], done["missing"]) == (4, 4, 3, 1, 0)
    assert done["trigger"] == "api" and done["finished_at"]
    by_id = {r["destination_id"]: r for r in done["results"]}
    assert {by_id[str(d.pk)]["state"] for d in good} == {"passed"}
    failed = by_id[str(bad.pk)]
    assert (failed["state"], failed["failed_step"], failed["error_code"]) == ("failed", "delivery", "auth_invalid")
    run = TestRun.objects.get(pk=failed["test_run_id"])
    assert run.trigger == Trigger.JOB and run.destination_id == bad.pk
    bad.refresh_from_db()
    assert bad.status == DestinationStatus.ERROR  # the same service: statuses are saved


def test_selectors_type_status_and_ids(api, receiver):
    connected = hook(receiver, workspace=api.workspace, status=DestinationStatus.CONNECTED)
    errored = hook(receiver, workspace=api.workspace, status=DestinationStatus.ERROR)
    DestinationFactory(workspace=api.workspace, destination_type="webhook")
    body = api.post(jobs_path(api), {"statuses": ["error"], "types": ["webhook"]}, format="json").json()
    assert [r["destination_id"] for r in body["results"]] == [str(errored.pk)]
    body = api.post(jobs_path(api), {"ids": [str(connected.pk), str(errored.pk)]}, format="json").json()
    assert {r["destination_id"] for r in body["results"]} == {str(connected.pk), str(errored.pk)}
    wait_for(lambda: not TestJob.objects.exclude(state="done").exists(), timeout=15)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "all", "Choose destinations"),
        ({"types": ["fax"]}, "types", "Unknown destination type 'fax'"),
        ({"statuses": ["broken"]}, "statuses.0", "not a valid choice"),
        ({"ids": ["nope"]}, "ids.0", "valid UUID"),
        ({"all": True, "concurrency": 0}, "concurrency", "greater than or equal to 1"),
        ({"all": True, "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_bad_selectors_are_400_naming_the_field(api, body, field, message):
    response = api.post(jobs_path(api), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert field in errors and message in " ".join(errors[field])
    assert not TestJob.objects.exists()


def test_an_id_of_another_workspace_is_not_found_by_the_job(api, receiver):
    elsewhere = hook(receiver)
    response = api.post(jobs_path(api), {"ids": [str(elsewhere.pk)]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"ids": [f"No destination with the id {elsewhere.pk}."]}


def test_jobs_are_scoped_to_their_workspace(api, other_api, receiver):
    hook(receiver, workspace=api.workspace)
    job = api.post(jobs_path(api), {"all": True}, format="json").json()
    wait_done(api, job["id"])
    for suffix in (f"/{job['id']}", f"/{job['id']}/events"):
        assert other_api.get(jobs_path(other_api, suffix)).status_code == 404
    assert api.get(jobs_path(api, f"/{uuid.uuid4()}")).status_code == 404
    assert api.get(jobs_path(api, f"/{uuid.uuid4()}/events")).status_code == 404


def test_a_viewer_reads_but_cannot_start_a_job(viewer_api, receiver):
    hook(receiver, workspace=viewer_api.workspace)
    response = viewer_api.post(jobs_path(viewer_api), {"all": True}, format="json")
    assert response.status_code == 403
    assert not TestJob.objects.exists()
    job = TestJob.objects.create(workspace=viewer_api.workspace, trigger="api", total=0)
    assert viewer_api.get(jobs_path(viewer_api, f"/{job.pk}")).status_code == 200


def test_progress_streams_as_sse_and_resumes(api, receiver):
    for _ in range(3):
        hook(receiver, workspace=api.workspace)
    job = api.post(jobs_path(api), {"all": True, "concurrency": 1}, format="json").json()
    response = api.get(jobs_path(api, f"/{job['id']}/events"))
    assert response["X-Test-Job-ID"] == job["id"]
    events = sse.read_stream(response)
    assert [e.type for e in events] == ["result", "result", "result", "done"]
    assert [e.data["done"] for e in events[:3]] == [1, 2, 3]
    assert all(e.data["result"]["state"] == "passed" for e in events[:3])
    assert events[-1].data["state"] == "done" and events[-1].data["passed"] == 3
    assert events[0].id == f"testjob-{job['id']}:1"  # the job id as the API spells it

    resumed = sse.read_stream(api.get(jobs_path(api, f"/{job['id']}/events"), HTTP_LAST_EVENT_ID=events[1].id))
    assert [e.id for e in resumed] == [events[2].id, events[3].id]
    finished = api.get(jobs_path(api, f"/{job['id']}/events"), HTTP_LAST_EVENT_ID=events[3].id)
    assert finished.status_code == 204 and finished.content == b""  # an EventSource stops


def test_a_destination_deleted_before_its_turn_is_reported_missing(api, receiver):
    keep = hook(receiver, workspace=api.workspace)
    gone = hook(receiver, workspace=api.workspace)
    job = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", select_all=True)
    Destination.objects.filter(pk=gone.pk).delete()
    jobs.test_job_run(job_id=job.pk)
    body = api.get(jobs_path(api, f"/{job.pk}")).json()
    assert (body["done"], body["passed"], body["missing"]) == (2, 1, 1)
    states = {r["destination_id"]: r["state"] for r in body["results"]}
    assert states == {str(keep.pk): "passed", None: "missing"}


def test_a_down_broker_leaves_the_job_queued_for_the_scheduler(api, receiver, settings):
    from zeotap_composable.celery import app

    hook(receiver, workspace=api.workspace)
    settings.CONNECTION_TEST_RUNTIME = "distributed"
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        response = api.post(jobs_path(api), {"all": True}, format="json")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 202, response.content  # recorded, never a 500
    job = TestJob.objects.get()
    assert job.state == "queued"
    TestJob.objects.filter(pk=job.pk).update(created_at=job.created_at - jobs.QUEUED_JOB_GRACE)
    settings.CONNECTION_TEST_RUNTIME = "embedded"  # the broker is back (here: run where we are)
    assert jobs.test_jobs_start_queued() == 1
    wait_done(api, job.pk)


def test_a_broker_down_when_an_items_turn_comes_fails_that_item_and_the_job_ends(api, receiver, settings):
    from zeotap_composable.celery import app

    hook(receiver, workspace=api.workspace)
    job = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", select_all=True)
    settings.CONNECTION_TEST_RUNTIME = "distributed"
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    try:
        jobs.test_job_run(job_id=job.pk)  # the runner, as a worker runs it, while the broker is away
    finally:
        app.conf.broker_url = previous
    body = api.get(jobs_path(api, f"/{job.pk}")).json()
    assert (body["state"], body["failed"]) == ("done", 1)
    (result,) = body["results"]
    assert (result["state"], result["error_code"], result["test_run_id"]) == ("failed", "queue_unavailable", None)
    assert not TestRun.objects.exists()  # the run it could not queue was removed


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_job_whose_runner_died_is_ended_and_its_untested_items_fail_as_interrupted(api, receiver, settings):
    settings.CONNECTION_TEST_STALE_SECONDS = 30
    tested, untested = hook(receiver, workspace=api.workspace), hook(receiver, workspace=api.workspace)
    finished_since = hook(receiver, workspace=api.workspace)
    ids = [tested.pk, untested.pk, finished_since.pk]
    job = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", ids=ids)
    # As a runner leaves a job when its process is killed after one result: running, its heartbeat stale,
    # and one test it had started finished on a worker after the runner died.
    long_ago = timezone.now() - timedelta(minutes=5)
    TestJob.objects.filter(pk=job.pk).update(state="running", started_at=long_ago, heartbeat_at=long_ago)
    job.items.filter(destination=tested).update(state="passed", message="All 2 steps passed.", finished_at=long_ago)
    TestJob.objects.filter(pk=job.pk).update(passed=1)  # as the runner counted it
    run = TestRun.objects.create(
        workspace=api.workspace, destination=finished_since, destination_type="webhook", trigger=Trigger.JOB
    )
    TestRun.objects.filter(pk=run.pk).update(
        success=True, finished_at=timezone.now(), duration_ms=410, steps=[{"name": "connectivity", "status": "passed"}]
    )
    job.items.filter(destination=finished_since).update(test_run=run)
    beating = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", ids=[untested.pk])
    TestJob.objects.filter(pk=beating.pk).update(state="running", started_at=long_ago, heartbeat_at=timezone.now())

    assert jobs.reap_interrupted_jobs() == 1
    assert jobs.reap_interrupted_jobs() == 0  # each job is ended once

    body = api.get(jobs_path(api, f"/{job.pk}")).json()
    assert (body["state"], body["done"], body["passed"], body["failed"]) == ("done", 3, 2, 1)
    by_id = {r["destination_id"]: r for r in body["results"]}
    assert by_id[str(tested.pk)]["state"] == "passed"
    assert (by_id[str(finished_since.pk)]["state"], by_id[str(finished_since.pk)]["test_run_id"]) == (
        "passed",
        str(run.pk),
    )
    assert (by_id[str(untested.pk)]["state"], by_id[str(untested.pk)]["error_code"]) == ("failed", "interrupted")
    assert "Run the job again" in by_id[str(untested.pk)]["message"]
    assert TestJob.objects.get(pk=beating.pk).state == "running"  # a live heartbeat is left alone
    # a watcher attached to the job's progress gets `done` with the counts
    events = sse.read_stream(api.get(jobs_path(api, f"/{job.pk}/events")))
    assert [e.type for e in events] == ["result", "done"] and events[-1].data["failed"] == 1


def test_a_runner_whose_job_was_ended_meanwhile_starts_nothing_more(api, receiver):
    import threading

    from tests.hooks import hold_delivery

    release = hold_delivery(receiver)
    for _ in range(3):
        hook(receiver, workspace=api.workspace)
    job = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", select_all=True, concurrency=1)
    runner = threading.Thread(target=jobs.test_job_run, kwargs={"job_id": job.pk}, daemon=True)
    runner.start()
    wait_for(lambda: TestRun.objects.exists())
    # Ended while the runner still runs its first test (as by the reaper, had its heartbeat looked stale).
    TestJob.objects.filter(pk=job.pk).update(state="done", finished_at=timezone.now())
    release.set()
    runner.join(10)
    assert not runner.is_alive()
    assert TestRun.objects.count() == 1  # the other two were never started


def test_a_stale_job_is_ended_only_once_the_tests_it_started_have_finished(api, receiver, settings):
    settings.CONNECTION_TEST_STALE_SECONDS = 30
    destination = hook(receiver, workspace=api.workspace)
    job = jobs.test_job_create(workspace=api.workspace, actor=api.user, trigger="api", ids=[destination.pk])
    long_ago = timezone.now() - timedelta(minutes=5)
    TestJob.objects.filter(pk=job.pk).update(state="running", started_at=long_ago, heartbeat_at=long_ago)
    run = TestRun.objects.create(
        workspace=api.workspace, destination=destination, destination_type="webhook", trigger=Trigger.JOB
    )
    job.items.update(test_run=run)  # started, still running on some worker
    assert jobs.reap_interrupted_jobs() == 0
    TestRun.objects.filter(pk=run.pk).update(success=False, finished_at=timezone.now(), error_code="interrupted")
    assert jobs.reap_interrupted_jobs() == 1
    (result,) = api.get(jobs_path(api, f"/{job.pk}")).json()["results"]
    assert (result["state"], result["error_code"], result["test_run_id"]) == ("failed", "interrupted", str(run.pk))
