"""Bulk connection tests: choose destinations, test them on a pool of threads, summarise the results.

The `test_destinations` command and the admin's "Test selected destinations" action both use this. Each
destination runs through the same service as the SSE endpoints (`connection_test_prepare` then
`connection_test_execute`), so it records the same TestRun history and updates the status the same way.

Only the selected ids are held in memory; a worker loads a few destinations at a time when it takes them
(one query per LOAD_BATCH), so the queries per destination stay the same whatever the number of
destinations. Each worker thread has its own database connection and closes it when it ends.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import close_old_connections, connection
from django.db.models import Q, QuerySet

from connectors.runtime.registry import connector_types
from workspaces.models import Workspace

from .db import release_connection
from .errors import InvalidInput
from .models import Destination, DestinationStatus, TestRun, TestRunTrigger
from .testing import INTERRUPTED, INTERRUPTED_MESSAGE, connection_test_execute, connection_test_prepare

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
# Destinations a worker loads with one query.
LOAD_BATCH = 4
# A destination whose stored config no longer validates is reported under this pseudo-step.
CONFIG_STEP = "config"


@dataclass(frozen=True)
class DestinationResult:
    """One destination's outcome. `message` is a step message: it never carries a secret."""

    id: uuid.UUID
    name: str
    destination_type: str
    workspace_id: uuid.UUID
    success: bool
    failed_step: str | None
    error_code: str | None
    message: str
    duration_ms: int
    test_run_id: uuid.UUID | None = None

    def as_dict(self) -> dict:
        return {
            "id": str(self.id),
            "name": self.name,
            "type": self.destination_type,
            "workspace_id": str(self.workspace_id),
            "success": self.success,
            "failed_step": self.failed_step,
            "error_code": self.error_code,
            "message": self.message,
            "duration_ms": self.duration_ms,
            "test_run_id": str(self.test_run_id) if self.test_run_id else None,
        }


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


# --- selection -------------------------------------------------------------------------------------


def destinations_select(
    *,
    workspace: Workspace | None = None,
    workspaces: Iterable[str] = (),
    types: Iterable[str] = (),
    statuses: Iterable[str] = (),
    ids: Iterable[str] = (),
    select_all: bool = False,
) -> QuerySet[Destination]:
    """The destinations matching every given criterion (each may repeat: any of its values).

    `workspace` confines everything to one workspace (the API's jobs); `workspaces` are ids or exact names.
    Raises InvalidInput, keyed by criterion, for anything unknown, malformed or ambiguous (a name several
    workspaces share, an id that matches no destination), and when nothing at all was chosen (neither a
    criterion nor `select_all`).
    """
    workspaces, types, statuses, ids = list(workspaces), list(types), list(statuses), list(ids)
    if not (select_all or workspaces or types or statuses or ids):
        raise InvalidInput({"selection": ["Choose destinations by workspace, type, status or id, or choose all."]})
    errors: dict[str, list[str]] = {}

    valid_types = connector_types()
    unknown_types = [t for t in types if t not in valid_types]
    if unknown_types:
        errors["type"] = [
            f"Unknown destination type {t!r}. Valid types: {', '.join(valid_types)}." for t in unknown_types
        ]

    valid_statuses = list(DestinationStatus.values)
    unknown_statuses = [s for s in statuses if s not in valid_statuses]
    if unknown_statuses:
        errors["status"] = [
            f"Unknown status {s!r}. Valid statuses: {', '.join(valid_statuses)}." for s in unknown_statuses
        ]

    parsed_ids = []
    for value in ids:
        try:
            parsed_ids.append(uuid.UUID(value.strip()))
        except (ValueError, AttributeError):
            errors.setdefault("id", []).append(f"{value!r} is not a UUID.")

    workspace_ids = []
    for value in workspaces:
        found = _workspace_ids(value)
        if not found:
            errors.setdefault("workspace", []).append(f"No workspace with the id or name {value!r}.")
        elif len(found) > 1:
            errors.setdefault("workspace", []).append(
                f"{len(found)} workspaces are named {value.strip()!r}; use an id: {', '.join(map(str, found))}."
            )
        workspace_ids.extend(found)

    destinations = Destination.objects.all() if workspace is None else Destination.objects.filter(workspace=workspace)
    if parsed_ids:
        existing = set(destinations.filter(pk__in=parsed_ids).values_list("pk", flat=True))
        for value in dict.fromkeys(parsed_ids):
            if value not in existing:
                errors.setdefault("id", []).append(f"No destination with the id {value}.")

    if errors:
        raise InvalidInput(errors)

    if workspace_ids:
        destinations = destinations.filter(workspace_id__in=workspace_ids)
    if types:
        destinations = destinations.filter(destination_type__in=types)
    if statuses:
        destinations = destinations.filter(status__in=statuses)
    if parsed_ids:
        destinations = destinations.filter(pk__in=parsed_ids)
    return destinations.order_by("created_at", "id")


def _workspace_ids(value: str) -> list[uuid.UUID]:
    value = value.strip()
    query = Q(name=value)
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(value))
    return list(Workspace.objects.filter(query).values_list("pk", flat=True))


# --- running ---------------------------------------------------------------------------------------


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


def run_result(run: TestRun, *, destination) -> DestinationResult:
    """The outcome of `destination`'s finished run (anything with its pk, name, type and workspace_id)."""
    failed = run.failed_step
    if run.success:
        failed_step, error_code, message = None, None, f"All {len(run.steps)} steps passed."
    elif failed is not None:
        failed_step, error_code, message = failed["name"], (failed.get("error") or {}).get("code"), failed["message"]
    elif run.error_code == INTERRUPTED:  # its process stopped between steps: no step failed
        failed_step, error_code, message = None, INTERRUPTED, INTERRUPTED_MESSAGE
    else:
        failed_step, error_code, message = "internal", "internal_error", "The test could not be completed."
    return DestinationResult(
        id=destination.pk,
        name=destination.name,
        destination_type=destination.destination_type,
        workspace_id=destination.workspace_id,
        success=run.success is True,
        failed_step=failed_step,
        error_code=error_code,
        message=message,
        duration_ms=run.duration_ms or 0,
        test_run_id=run.pk,
    )


def failure(
    destination, *, failed_step: str | None, error_code: str, message: str, duration_ms: int = 0
) -> DestinationResult:
    """An outcome no run describes (`destination`: anything with a destination's pk, name, type and
    workspace_id)."""
    return DestinationResult(
        id=destination.pk,
        name=destination.name,
        destination_type=destination.destination_type,
        workspace_id=destination.workspace_id,
        success=False,
        failed_step=failed_step,
        error_code=error_code,
        message=message,
        duration_ms=duration_ms,
    )


def invalid_config_result(destination, exc: InvalidInput, *, duration_ms: int) -> DestinationResult:
    """The stored config no longer validates (a connector's schema changed): no test ran."""
    message = f"The stored config is not valid: {exc}"
    return failure(
        destination, failed_step=CONFIG_STEP, error_code="invalid_config", message=message, duration_ms=duration_ms
    )


def internal_failure(destination) -> DestinationResult:
    """A test that could not be run, or whose record went missing."""
    message = "The test could not be run; see the service log."
    return failure(destination, failed_step="internal", error_code="internal_error", message=message)
