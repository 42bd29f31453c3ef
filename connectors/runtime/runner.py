"""Runs a connector's steps under an overall time limit, whatever a step does.

The steps run in their own thread; results come back through a queue. When the deadline passes, the step
in progress is reported as a `timeout` failure and the rest as skipped, the connector is aborted (its
sockets shut, its session closed, so the stray thread's download stops and it ends) and that thread's
later results are ignored. A caller that stops reading the results (it closed the generator) aborts the
connector the same way.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Iterator

from .base import Connector, StepResult
from .errors import ConnectorError, ErrorCode

_END = object()


def run_test(connector: Connector, *, timeout: float) -> Iterator[StepResult]:
    deadline = time.monotonic() + timeout
    results: queue.Queue = queue.Queue()

    def produce():
        try:
            for result in connector.test(deadline=deadline):
                results.put(result)
        finally:
            results.put(_END)

    # In the caller's context, so what it set for logging (the test-run id) follows the steps.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(produce,), name=f"connector-{connector.type}", daemon=True).start()
    try:
        yield from _results_by(deadline, results, connector, timeout)
    finally:
        connector.abort()  # whether it ended, ran out of time or was abandoned: no request of it goes on


def _results_by(deadline: float, results: queue.Queue, connector: Connector, timeout: float) -> Iterator[StepResult]:
    steps = list(connector.steps)
    done = 0
    while True:
        remaining = deadline - time.monotonic()
        try:
            item = results.get(timeout=max(remaining, 0.0)) if remaining > 0 else results.get_nowait()
        except queue.Empty:
            break
        if item is _END:
            return
        done += 1
        yield item
    connector.abort()
    if done >= len(steps):
        return
    stuck = steps[done]
    error = ConnectorError(
        ErrorCode.TIMEOUT,
        f"The connection test took longer than its {timeout:g}s limit during the '{stuck.name}' step.",
    )
    yield StepResult.failure(stuck.name, error, int(timeout * 1000))
    for step in steps[done + 1 :]:
        yield StepResult.skipped(step.name, stuck.name)
