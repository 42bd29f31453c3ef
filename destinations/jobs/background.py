"""Bulk connection tests as background jobs: the API's test-jobs, the admin action and `test_destinations --enqueue`.

A job records the destinations chosen (with the bulk command's selectors, `destinations_select`) as items.
Its runner (one of TEST_JOB_RUNNERS threads of the web process in the embedded runtime, of the worker that
received the job's Celery task in the distributed one; a job waiting for a runner holds no thread) hands each
item's test to the runtime like any other test,
`concurrency` at a time: the same service, TestRun history and status updates; the runs have the trigger
`job`, and in the distributed runtime they spread over every worker. Each result is saved on its item and
published on the job's SSE channel (`result` events, then `done`). The runner beats a heartbeat on the job;
when its process dies, `reap_interrupted_jobs` ends the job and fails its untested items as `interrupted`,
so no job and no watcher waits for ever. A workspace has at most TEST_JOBS_PER_WORKSPACE jobs queued or
running at once: past it, creating one raises TooBusy.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from datetime import timedelta
from types import SimpleNamespace

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError

from ..db import Heartbeat, release_connection
from ..errors import BackendUnavailable, InvalidInput, TooBusy
from ..events.relay import send_stored_event
from ..models import Destination, TestJob, TestJobItem, TestJobItemState, TestJobState, TestRun, TestRunTrigger
from ..runs.runtime import connection_test_submit
from ..runs.service import INTERRUPTED, connection_test_prepare
from .representation import test_job_as_dict, test_job_counts, test_job_item_as_dict
from .results import DestinationResult, failure, internal_failure, invalid_config_result, run_result
from .selection import DEFAULT_CONCURRENCY, destinations_select

logger = logging.getLogger(__name__)

QUEUED_JOB_GRACE = timedelta(minutes=5)
INTERRUPTED_ITEM_MESSAGE = "Not tested: the process running the job stopped first. Run the job again."
_heartbeat = Heartbeat(TestJob)
# How often a job's runner looks for the runs that finished.
JOB_POLL_SECONDS = 0.2
# The bulk selector's criteria, as the job API names them.
API_FIELDS = {"type": "types", "status": "statuses", "id": "ids", "selection": "all", "concurrency": "concurrency"}
# When a workspace at its cap of jobs may try again: about when a job of a few tests ends.
BUSY_RETRY_AFTER_SECONDS = 30


def test_job_create(
    *,
    workspace,
    actor,
    trigger: str,
    types=(),
    statuses=(),
    ids=(),
    select_all: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    field_names: dict | None = None,
) -> TestJob:
    """Record a job for the workspace's destinations matching the selectors (InvalidInput names a bad one).

    `field_names` renames the selector keys in errors (the API's body fields; the command keeps its flags).
    """
    try:
        if concurrency < 1:
            raise InvalidInput({"concurrency": ["Must be at least 1."]})
        chosen = destinations_select(
            workspace=workspace,
            types=types,
            statuses=statuses,
            ids=[str(value) for value in ids],
            select_all=select_all,
        )
    except InvalidInput as exc:
        if field_names is None:
            raise
        raise InvalidInput({field_names.get(key, key): messages for key, messages in exc.errors.items()}) from None
    rows = list(chosen.values_list("pk", "name", "destination_type"))
    with transaction.atomic():
        _admit(workspace)
        job = TestJob.objects.create(
            workspace=workspace,
            actor=actor,
            trigger=trigger,
            selection={
                "types": list(types),
                "statuses": list(statuses),
                "ids": [str(value) for value in ids],
                "all": select_all,
            },
            total=len(rows),
            concurrency=concurrency,
        )
        TestJobItem.objects.bulk_create(
            TestJobItem(job=job, position=n, destination_id=pk, destination_name=name, destination_type=kind)
            for n, (pk, name, kind) in enumerate(rows)
        )
    return job


def _admit(workspace) -> None:
    """Refuse a job past the workspace's cap of queued and running ones (in the caller's transaction, with the
    workspace row locked, so two requests at once cannot both take the last place)."""
    type(workspace).objects.select_for_update().filter(pk=workspace.pk).exists()
    cap = settings.TEST_JOBS_PER_WORKSPACE
    active = TestJob.objects.filter(workspace=workspace, state__in=[TestJobState.QUEUED, TestJobState.RUNNING])
    if active.count() >= cap:
        raise TooBusy(
            f"This workspace already has {cap} test jobs queued or running (TEST_JOBS_PER_WORKSPACE). Wait for "
            "one to finish (follow it at its Location), or ask the operator to raise TEST_JOBS_PER_WORKSPACE.",
            retry_after=BUSY_RETRY_AFTER_SECONDS,
        )


def test_job_submit(job: TestJob) -> None:
    """Hand the job to the runtime: a Celery task when distributed, a thread of this process when embedded.

    A broker that is down does not lose the job: it stays queued in the database until a tick starts it.
    """
    if settings.CONNECTION_TEST_RUNTIME == "distributed":
        try:
            run_test_job.delay(str(job.pk))
        except OperationalError:
            # The job is recorded: the scheduler starts it once the broker is back (test_jobs_start_queued).
            logger.warning("test job %s stays queued: the broker is unavailable", job.pk)
        return
    test_job_run_here(job.pk)


class _Runners:
    """TEST_JOB_RUNNERS threads of this process take jobs from one queue; a job waiting its turn holds no thread.

    Not connection-test threads: a runner waits on its tests, and holding a test thread while it waited
    could leave no thread to run them. Daemon threads, so a stopping worker does not wait for a job whose
    tests it no longer takes; the reaper ends such a job.
    """

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting: set = set()  # ids in the queue: the scheduler may offer a queued job again
        self._threads: list[threading.Thread] = []

    def submit(self, job_id) -> None:
        with self._lock:
            if job_id in self._waiting:
                return
            self._waiting.add(job_id)
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            if len(self._threads) < settings.TEST_JOB_RUNNERS:
                thread = threading.Thread(target=self._work, name=f"test-job-runner-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put(job_id)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            with self._lock:
                self._waiting.discard(job_id)
            close_old_connections()
            try:
                test_job_run(job_id=job_id)
            except Exception:  # the reaper ends the job; this runner takes the next one
                logger.exception("test job %s stopped with an error", job_id)
            finally:
                connection.close()


_runners = _Runners()


def test_job_run_here(job_id) -> None:
    """Queue the job for this process's runners (see _Runners)."""
    _runners.submit(job_id)


def test_jobs_start_queued() -> int:
    """Start jobs nobody started: those recorded by `test_destinations --enqueue` in the embedded runtime, and
    in the distributed one any whose task message was lost (queued for longer than QUEUED_JOB_GRACE)."""
    queued = TestJob.objects.filter(state=TestJobState.QUEUED)
    if settings.CONNECTION_TEST_RUNTIME == "distributed":
        queued = queued.filter(created_at__lt=timezone.now() - QUEUED_JOB_GRACE)
    started = 0
    for job in queued.order_by("created_at")[:20]:
        test_job_submit(job)
        started += 1
    return started


def test_job_run(*, job_id) -> TestJob:
    """Run a queued job to the end (idempotent: a job already started is left to its runner)."""
    now = timezone.now()
    if not TestJob.objects.filter(pk=job_id, state=TestJobState.QUEUED).update(
        state=TestJobState.RUNNING, started_at=now, heartbeat_at=now
    ):
        return TestJob.objects.get(pk=job_id)
    job = TestJob.objects.get(pk=job_id)
    with _heartbeat.beating(job.pk):
        try:
            _run(job)
        finally:
            _end(job)
    return job


def _run(job: TestJob) -> None:
    """Keep `job.concurrency` of its tests running until none is left, recording each result as it ends.

    Each test is handed to the runtime like any other (a Celery task in the distributed runtime, so one
    job's tests spread over every worker); this loop only starts them and reads which runs finished.
    """
    pending = deque(job.items.filter(state=TestJobItemState.QUEUED).order_by("position"))
    running: dict = {}  # run id -> item
    while pending or running:
        while pending and len(running) < job.concurrency:
            item = pending.popleft()
            run_id = _start(job, item)
            if run_id is not None:
                running[run_id] = item
        if not running:
            continue
        try:
            if not TestJob.objects.filter(pk=job.pk, state=TestJobState.RUNNING).exists():
                return  # ended by the reaper, or deleted with its workspace: start nothing more
            runs = {run.pk: run for run in TestRun.objects.filter(pk__in=list(running))}
        finally:
            release_connection()
        ended = [run_id for run_id in running if run_id not in runs or runs[run_id].finished_at is not None]
        for run_id in ended:
            item = running.pop(run_id)
            if run_id in runs:
                result = run_result(runs[run_id], destination=_item_destination(job, item))
            else:  # removed while it ran
                result = internal_failure(_item_destination(job, item))
            _record(job, item, result)
        if running and not ended:
            time.sleep(JOB_POLL_SECONDS)


def _start(job: TestJob, item: TestJobItem):
    """Submit the item's test; its run id, or None when it ended at once (deleted, invalid, no queue)."""
    destination = None
    if item.destination_id is not None:
        destination = Destination.objects.select_related("workspace", "connection").filter(pk=item.destination_id)
        destination = destination.first()
    if destination is None:  # deleted since the job was created
        ended = TestJobItem.objects.filter(pk=item.pk, state=TestJobItemState.QUEUED).update(
            state=TestJobItemState.MISSING, finished_at=timezone.now()
        )
        _count(job, TestJobItemState.MISSING, ended)
        return None
    try:
        prepared = connection_test_prepare(
            workspace=destination.workspace, actor=job.actor, trigger=TestRunTrigger.JOB, destination=destination
        )
    except InvalidInput as exc:
        _record(job, item, invalid_config_result(destination, exc, duration_ms=0))
        return None
    # The item names its run from the start: a client can follow it, and a reaper can take its result.
    TestJobItem.objects.filter(pk=item.pk).update(test_run=prepared.test_run)
    try:
        connection_test_submit(prepared)
    except BackendUnavailable:
        message = "The test queue was unavailable; run the job again."
        _record(job, item, failure(destination, failed_step=None, error_code="queue_unavailable", message=message))
        return None
    return prepared.test_run.pk


def _item_destination(job: TestJob, item: TestJobItem) -> SimpleNamespace:
    return SimpleNamespace(
        pk=item.destination_id,
        name=item.destination_name,
        destination_type=item.destination_type,
        workspace_id=job.workspace_id,
    )


def _count(job: TestJob, state: str, n: int) -> None:
    """Add `n` items that ended in `state` to the job's kept counters (one UPDATE, never a recount)."""
    if n:
        TestJob.objects.filter(pk=job.pk).update(**{state: F(state) + n})


def _record(job: TestJob, item: TestJobItem, result: DestinationResult) -> None:
    """Save an item's result and publish it on the job's channel with the new counts, once: an item another
    process (the reaper, or the runner) already recorded is left as it is."""
    item.state = TestJobItemState.PASSED if result.success else TestJobItemState.FAILED
    item.failed_step = result.failed_step or ""
    item.error_code = result.error_code or ""
    item.message = result.message
    item.duration_ms = result.duration_ms
    item.test_run_id = result.test_run_id
    item.finished_at = timezone.now()
    fields = ["state", "failed_step", "error_code", "message", "duration_ms", "test_run_id", "finished_at"]
    recorded = TestJobItem.objects.filter(pk=item.pk, state=TestJobItemState.QUEUED).update(
        **{name: getattr(item, name) for name in fields}
    )
    if not recorded:
        return
    _count(job, item.state, recorded)
    send_stored_event(job.channel, "result", {**test_job_counts(job), "result": test_job_item_as_dict(item)})


def _end(job: TestJob, *, interrupted: bool = False) -> bool:
    """Mark a running job done and send `done`, once. An `interrupted` job (its runner died) first takes the
    results of the runs it started that have finished since; its other untested items fail as interrupted.
    """
    if not TestJob.objects.filter(pk=job.pk, state=TestJobState.RUNNING).update(
        state=TestJobState.DONE, finished_at=timezone.now()
    ):
        return False  # ended meanwhile (reaped, or by its runner)
    if interrupted:
        untested = job.items.filter(state=TestJobItemState.QUEUED)
        for item in untested.filter(test_run__finished_at__isnull=False).select_related("test_run"):
            _record(job, item, run_result(item.test_run, destination=_item_destination(job, item)))
        failed = untested.update(
            state=TestJobItemState.FAILED,
            error_code=INTERRUPTED,
            message=INTERRUPTED_ITEM_MESSAGE,
            finished_at=timezone.now(),
        )
        _count(job, TestJobItemState.FAILED, failed)
    job.refresh_from_db()
    send_stored_event(job.channel, "done", test_job_as_dict(job))
    return True


def reap_interrupted_jobs() -> int:
    """End every running job whose heartbeat is older than CONNECTION_TEST_STALE_SECONDS (its process died).

    A job is ended once the tests it started have finished (they may be running on other workers, and a
    run always ends: its own reaper ends one whose worker died), so it keeps their results. The items it
    never started fail with the error code `interrupted`. Safe to call from any process, as often as
    wanted: each job is ended once. Returns how many were ended.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.CONNECTION_TEST_STALE_SECONDS)
    stale = TestJob.objects.filter(state=TestJobState.RUNNING).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, started_at__lt=stale_before)
    )
    ended = 0
    for job in stale[:100]:
        started = job.items.filter(state=TestJobItemState.QUEUED, test_run__isnull=False)
        if started.filter(test_run__finished_at__isnull=True).exists():
            continue  # a later call ends it, with those results
        if _end(job, interrupted=True):
            ended += 1
            logger.warning("test job %s was interrupted (its runner stopped)", job.pk)
    return ended


@shared_task(name="destinations.tasks.run_test_job", ignore_result=True)
def run_test_job(job_id: str) -> None:
    """Start a job's runner on this worker (it returns at once; the runner's heartbeat guards the job)."""
    test_job_run_here(job_id)
