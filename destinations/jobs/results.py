"""One destination's outcome in a bulk test or a job: from its run, or from why no run describes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ..errors import InvalidInput, stored_config_invalid
from ..models import TestRun
from ..runs.service import INTERRUPTED, INTERRUPTED_MESSAGE

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
    unproven: list[dict] = field(default_factory=list)  # privileges its passed steps could not prove

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
            "unproven": self.unproven,
        }


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
        unproven=run.unproven,
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
    message = stored_config_invalid(exc)
    return failure(
        destination, failed_step=CONFIG_STEP, error_code="invalid_config", message=message, duration_ms=duration_ms
    )


def internal_failure(destination) -> DestinationResult:
    """A test that could not be run, or whose record went missing."""
    message = "The test could not be run; see the service log."
    return failure(destination, failed_step="internal", error_code="internal_error", message=message)
