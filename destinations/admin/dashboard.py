"""The failures dashboard: destinations in error, grouped by workspace, type and failing step."""

from __future__ import annotations

from collections import defaultdict
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import JSONField, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from ..models import Destination, DestinationStatus, TestRun
from ..selectors import status_counts
from ..services.expiry import expiring_soon
from .destination_pages import _context, _url
from .display import type_label, workspace_label


def failure_groups() -> list[dict]:
    """The destinations in `error`, grouped by workspace, type and the step their latest test failed at."""
    latest_steps = (
        TestRun.objects.filter(destination=OuterRef("pk"), finished_at__isnull=False)
        .order_by("-started_at")
        .values("steps")[:1]
    )
    failing = (
        Destination.objects.filter(status=DestinationStatus.ERROR)
        .select_related("workspace")
        .annotate(latest_steps=Subquery(latest_steps, output_field=JSONField()))
        .order_by("name")
    )
    groups: dict[tuple, dict] = defaultdict(lambda: {"destinations": []})
    for destination in failing:
        failed = next((s for s in destination.latest_steps or [] if s.get("status") == "failed"), {})
        step = failed.get("name", "")
        group = groups[(destination.workspace_id, destination.destination_type, step)]
        group.update(workspace=destination.workspace, destination_type=destination.destination_type, step=step)
        group["error_code"] = group.get("error_code") or (failed.get("error") or {}).get("code", "")
        group["destinations"].append(
            {"name": destination.name, "url": _url("change", destination.pk), "error": destination.status_error}
        )
    listed = []
    for group in groups.values():
        query = {
            "status__exact": DestinationStatus.ERROR,
            "destination_type__exact": group["destination_type"],
            "workspace__id__exact": str(group["workspace"].pk),
        }
        url = reverse("admin:destinations_destination_changelist") + "?" + urlencode(query)
        listed.append({**group, "list_url": url})
    return sorted(listed, key=lambda g: (-len(g["destinations"]), g["workspace"].name, g["destination_type"]))


@require_GET
def failures_dashboard(request, model_admin) -> TemplateResponse:
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    changelist = reverse("admin:destinations_destination_changelist")
    counts = [
        {"status": value, "label": label, "count": n, "url": f"{changelist}?status__exact={value}"}
        for (value, label), n in zip(DestinationStatus.choices, status_counts().values(), strict=True)
    ]
    groups = [
        {**g, "workspace_label": workspace_label(g["workspace"]), "type_label": type_label(g["destination_type"])}
        for g in failure_groups()
    ]
    expiring = [
        {
            **row,
            "url": _url("change", row["destination"].pk),
            "workspace_label": workspace_label(row["destination"].workspace),
        }
        for row in expiring_soon()
    ]
    context = _context(
        model_admin, request, title="Destination failures", counts=counts, groups=groups, expiring=expiring
    )
    return TemplateResponse(request, "admin/destinations/destination/dashboard.html", context)
