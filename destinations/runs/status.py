"""A test's outcome recorded as its destination's status, and a connected <-> error change notified."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from ..models import Destination, DestinationStatus, TestRun
from ..services.notifications import status_change_enqueue

# The changes that are notified; pending -> anything is a first result, not a change.
NOTIFIED_CHANGES = {
    (DestinationStatus.CONNECTED, DestinationStatus.ERROR),
    (DestinationStatus.ERROR, DestinationStatus.CONNECTED),
}


def destination_status_record(
    *,
    destination_id,
    success: bool,
    status_error: str,
    tested_at: datetime,
    test_run: TestRun | None = None,
    locked: Destination | None = None,
    also: dict | None = None,
) -> str | None:
    """Save a test's outcome as the destination's status; a connected <-> error change emits a notification.

    `locked` is the destination when the caller already holds its row lock in the current transaction (no
    second read); `also` are more fields the test decided, saved in the same update. Returns the previous
    status (None when the destination is gone).
    """
    current = DestinationStatus.CONNECTED if success else DestinationStatus.ERROR
    with transaction.atomic(savepoint=False):  # part of the caller's transaction when there is one
        if locked is not None:
            row = {
                "id": locked.pk,
                "name": locked.name,
                "destination_type": locked.destination_type,
                "workspace_id": locked.workspace_id,
                "status": locked.status,
            }
        else:
            row = (
                Destination.objects.select_for_update()
                .filter(pk=destination_id)
                .values("id", "name", "destination_type", "workspace_id", "status")
                .first()
            )
        if row is None:
            return None
        Destination.objects.filter(pk=row["id"]).update(
            status=current, status_error="" if success else status_error, last_tested_at=tested_at, **(also or {})
        )
        if (row["status"], current) in NOTIFIED_CHANGES:
            status_change_enqueue(
                workspace_id=row["workspace_id"],
                destination=row,
                previous=row["status"],
                current=current,
                status_error="" if success else status_error,
                test_run=test_run,
            )
    return row["status"]
