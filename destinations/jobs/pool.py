"""The `test_destinations` command's in-process pool: test destinations on threads, and summarise the results.

Each
destination runs through the same service as the SSE endpoints (`connection_test_prepare` then
`connection_test_execute`), so it records the same TestRun history and updates the status the same way.

Only the selected ids are held in memory; a worker loads a few destinations at a time when it takes them
(one query per LOAD_BATCH), so the queries per destination stay the same whatever the number of
destinations. Each worker thread has its own database connection and closes it when it ends."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import close_old_connections, connection
from django.db.models import QuerySet

from ..db import release_connection
from ..errors import InvalidInput
from ..models import Destination, TestRunTrigger
from ..runs.service import connection_test_execute, connection_test_prepare
from .results import DestinationResult, internal_failure, invalid_config_result, run_result
from .selection import DEFAULT_CONCURRENCY

logger = logging.getLogger(__name__)


# Destinations a worker loads with one query.
LOAD_BATCH = 4


@dataclass
class BulkReport:
    total: int
    concurrency: int
    save_status: bool
    results: list[DestinationResult] = field(default_factory=list)
    # Ids selected but gone (deleted) by the time a worker took them.
    missing: list[uuid.UUID] = field(default_factory=list)
    interrupted: bool = False
    wall_ms: int = 0

    @property
    def passed(self) -> list[DestinationResult]:
        return [r for r in self.results if r.success]

    @property
    def failed(self) -> list[DestinationResult]:
        return [r for r in self.results if not r.success]

    @property
    def done(self) -> int:
        return len(self.results) + len(self.missing)

    @property
    def not_run(self) -> int:
        return self.total - self.done

    @property
    def all_passed(self) -> bool:
        return not self.failed and not self.interrupted

    def failures_by_step(self) -> list[tuple[str, str, int]]:
        """(destination type, failing step, count), most frequent first."""
        counts = Counter((r.destination_type, r.failed_step or "?") for r in self.failed)
        return [(t, step, n) for (t, step), n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def bulk_test(
    destinations: QuerySet[Destination] | Iterable[uuid.UUID],
    *,
    actor=None,
    trigger: str = TestRunTrigger.CLI,
    concurrency: int = DEFAULT_CONCURRENCY,
    save_status: bool = True,
    on_result: Callable[[DestinationResult, BulkReport], None] | None = None,
    on_stopping: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> BulkReport:
    """Test every destination, `concurrency` at a time; returns when all are done.

    `on_result` is called in the calling thread as each result comes in. When `stop` is set (a Ctrl-C
    handler does that) or a KeyboardInterrupt arrives, no further test starts; the running ones finish
    (their status and history are saved) and the report comes back with `interrupted` set;
    `on_stopping(running)` is called then. A KeyboardInterrupt once stopping abandons the running tests
    and propagates.
    """
    if concurrency < 1:
        raise InvalidInput({"concurrency": ["Must be at least 1."]})
    if isinstance(destinations, QuerySet):
        ids = list(destinations.order_by("created_at", "id").values_list("pk", flat=True))
    else:
        ids = list(destinations)
    report = BulkReport(total=len(ids), concurrency=concurrency, save_status=save_status)
    started = time.monotonic()
    if not ids:
        return report

    # Workers take a few ids at a time and load them with one query: fewer queries to compile and run.
    # The batch is fixed (smaller only when there are few destinations per worker), so the queries per
    # destination do not depend on how many are tested.
    batch = max(1, min(LOAD_BATCH, -(-len(ids) // concurrency)))
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for start in range(0, len(ids), batch):
        todo.put(ids[start : start + batch])
    results: queue.SimpleQueue = queue.SimpleQueue()
    stop = stop if stop is not None else threading.Event()
    workers = [
        threading.Thread(
            target=_worker,
            args=(todo, results, stop, actor, trigger, save_status),
            name=f"bulk-test-{n}",
            daemon=True,  # a second Ctrl-C must not wait for them
        )
        for n in range(min(concurrency, len(ids)))
    ]
    for worker in workers:
        worker.start()

    def collect(item) -> None:
        if isinstance(item, DestinationResult):
            report.results.append(item)
            if on_result is not None:
                on_result(item, report)
        else:
            report.missing.append(item)

    def wait_for_workers() -> None:
        while report.done < report.total and (any(w.is_alive() for w in workers) or not results.empty()):
            if stop.is_set() and not report.interrupted:
                report.interrupted = True
                if on_stopping is not None:
                    on_stopping(sum(worker.is_alive() for worker in workers))
            try:
                collect(results.get(timeout=0.1))
            except queue.Empty:
                continue
        for worker in workers:  # they end (and close their connections) once nothing is left to take
            worker.join()

    try:
        try:
            wait_for_workers()
        except KeyboardInterrupt:
            if stop.is_set():
                raise  # a second interrupt: abandon the running tests
            stop.set()
            wait_for_workers()
    finally:
        report.wall_ms = int((time.monotonic() - started) * 1000)
    return report


def _worker(todo, results, stop, actor, trigger, save_status) -> None:
    close_old_connections()
    try:
        while not stop.is_set():
            try:
                batch = todo.get_nowait()
            except queue.Empty:
                return
            loaded = _load(batch)
            for destination_id in batch:
                if stop.is_set():
                    return
                destination = loaded.get(destination_id)
                if destination is None:
                    results.put(destination_id)  # deleted since it was selected
                    continue
                try:
                    result = run_destination_test(destination, actor=actor, trigger=trigger, save_status=save_status)
                except Exception:  # never let one destination stop the others
                    logger.exception("bulk connection test of destination %s failed to run", destination_id)
                    result = internal_failure(destination)
                release_connection()
                results.put(result)
    finally:
        connection.close()


def _load(ids: list) -> dict:
    destinations = Destination.objects.select_related("workspace", "connection").filter(pk__in=ids)
    return {destination.pk: destination for destination in destinations}


def run_destination_test(
    destination: Destination, *, actor=None, trigger: str = TestRunTrigger.CLI, save_status: bool = True
) -> DestinationResult:
    """Test one stored destination (loaded with its workspace and connection) and describe the outcome."""
    started = time.monotonic()
    try:
        prepared = connection_test_prepare(
            workspace=destination.workspace, actor=actor, trigger=trigger, destination=destination
        )
    except InvalidInput as exc:
        return invalid_config_result(destination, exc, duration_ms=int((time.monotonic() - started) * 1000))
    run = connection_test_execute(prepared, save_status=save_status, publish=False)
    if run.duration_ms is None:
        run.duration_ms = int((time.monotonic() - started) * 1000)
    return run_result(run, destination=destination)
