"""Waiting for an asynchronous vendor statement within the running step's time limit (Snowflake, Databricks).

The runtime sets `connector.http.read_timeout` to the time the step has left just before calling the
check method, so `step_deadline()` taken at the start of a check is the step's deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from .runtime.errors import ConnectorError, ErrorCode
from .runtime.http import OutboundClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.1
MAX_DELAY = 1.0


def step_deadline(client: OutboundClient) -> float:
    """The monotonic time by which the current step must have answered."""
    return time.monotonic() + client.read_timeout


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def poll(
    client: OutboundClient,
    fetch: Callable[[], T | None],
    *,
    deadline: float,
    what: str,
    remediation: str,
    cancel: Callable[[], object] | None = None,
) -> T:
    """Call `fetch` (None: still running) with a growing delay until it answers or the deadline passes.

    Each call's read timeout is cut to the time left, so polling never outlives the step. When time runs
    out, `cancel` (best effort) stops the vendor's work and the step fails with `timeout`.
    """
    delay = FIRST_DELAY
    while True:
        client.read_timeout = max(0.1, remaining(deadline))
        result = fetch()
        if result is not None:
            return result
        if remaining(deadline) <= delay:
            break
        time.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
    if cancel is not None:
        client.read_timeout = 2.0
        try:
            cancel()
        except ConnectorError as error:  # the timeout is what the person needs to hear about
            logger.info("cancelling %s failed: %s", what, error.code)
    raise ConnectorError(
        ErrorCode.TIMEOUT,
        f"{what} was still running when the step's time limit ran out; it was cancelled.",
        remediation=remediation,
    )
