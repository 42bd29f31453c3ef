"""Choosing destinations to test: by workspace, type, status or id (the command, the API's jobs, the admin)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from connectors.runtime.registry import connector_types
from workspaces.models import Workspace

from ..errors import InvalidInput
from ..models import Destination, DestinationStatus

DEFAULT_CONCURRENCY = 8


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


def destinations_by_workspace(destinations: QuerySet[Destination]) -> list[tuple[Workspace, list]]:
    """The destinations' ids by workspace (the workspaces by name, then id): what one test job each takes."""
    by_workspace: dict = {}
    for pk, workspace_id in destinations.order_by().values_list("pk", "workspace_id"):
        by_workspace.setdefault(workspace_id, []).append(pk)
    workspaces = Workspace.objects.filter(pk__in=by_workspace).order_by("name", "pk")
    return [(workspace, by_workspace[workspace.pk]) for workspace in workspaces]
