"""The failures dashboard: trends of tests passed and failed per day, the newest failures, and destinations in
error grouped by workspace and type, with a few examples each.

Its cost does not grow with the fleet: the groups are counted in SQL and capped, each group shows a capped
sample of destinations (picked in SQL by a window function), only the sample's latest runs are read, and
rows are read as values (no model instance, no secret decrypted). Links are built from one reversed pattern.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, JSONField, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber, TruncDate
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from ..models import Destination, DestinationStatus, TestRun
from ..selectors import status_counts
from ..services.expiry import expiring_soon
from .destination_pages import _context, _url
from .display import type_label, workspace_label

GROUPS_SHOWN = 50
EXAMPLES_PER_GROUP = 5
TREND_DAYS = 30
NEWEST_FAILURES = 20
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
_PK_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _failed_step(steps: list[dict] | None) -> dict:
    return next((s for s in steps or [] if s.get("status") == "failed"), {})


def _change_url_of():
    """One reverse() for the page: a destination's change URL is the pattern with its id put in."""
    pattern = reverse("admin:destinations_destination_change", args=[_PK_PLACEHOLDER])
    return lambda pk: pattern.replace(_PK_PLACEHOLDER, str(pk))


def _day_counts(since, until=None) -> list[dict]:
    """(day, type, success, n) for runs started in [since, until): COUNT(*) so the covering index
    testrun_started_type_result answers alone (an index-only scan; COUNT(id) would read every row)."""
    runs = TestRun.objects.filter(started_at__gte=since, success__isnull=False)
    if until is not None:
        runs = runs.filter(started_at__lt=until)
    return list(
        runs.annotate(day=TruncDate("started_at"))
        .values("day", "destination_type", "success")
        .annotate(n=Count("*"))
        .order_by()
    )


def _counts_cached(key: str, since, until, expires, now) -> list[dict]:
    """`_day_counts(since, until)` for a span that has ended, cached until `expires` (when the span moves on)."""
    counts = cache.get(key)
    if counts is None:
        counts = _day_counts(since, until)
        cache.set(key, counts, timeout=int((expires - now).total_seconds()) + 60)
    return counts


def daily_results(days: int = TREND_DAYS) -> dict:
    """Tests passed and failed per day (UTC) over the last `days` days, overall and per type.

    Finished days and today's finished hours do not change, so their counts are cached until the day or the
    hour ends; each page view counts the current hour's runs only. The cost of a view thus follows one hour's
    runs, not the table or a whole day of a fleet's checks.
    """
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = now.replace(minute=0, second=0, microsecond=0)
    dates = [midnight.date() - timedelta(days=n) for n in range(days - 1, -1, -1)]
    since = midnight - timedelta(days=days - 1)
    past = _counts_cached(f"dashboard:daily:{since.date().isoformat()}:{days}", since, midnight, midnight + DAY, now)
    today = _counts_cached(f"dashboard:hours:{hour.isoformat()}", midnight, hour, hour + HOUR, now)
    index = {day: i for i, day in enumerate(dates)}
    series: dict[str, dict[str, list[int]]] = {}
    for row in [*past, *today, *_day_counts(hour)]:
        position = index.get(row["day"])
        if position is None:
            continue
        for key in ("", row["destination_type"]):
            counts = series.setdefault(key, {"passed": [0] * days, "failed": [0] * days})
            counts["passed" if row["success"] else "failed"][position] += row["n"]
    overall = series.pop("", {"passed": [0] * days, "failed": [0] * days})
    return {
        "days": [day.isoformat() for day in dates],
        "series": [
            {"key": "", "label": "All types", **overall},
            *sorted(
                ({"key": key, "label": type_label(key), **counts} for key, counts in series.items()),
                key=lambda s: s["label"],
            ),
        ],
    }


def newest_failures(limit: int = NEWEST_FAILURES) -> list[dict]:
    """The newest failed tests, with the step that failed, its error code and remediation."""
    runs = (
        TestRun.objects.filter(success=False)
        .order_by("-started_at")
        .values(
            "id",
            "started_at",
            "destination_id",
            "destination__name",
            "destination_type",
            "workspace__name",
            "steps",
            "error_code",
        )[:limit]
    )
    change_url = _change_url_of()
    listed = []
    for run in runs:
        failed = _failed_step(run["steps"])
        error = failed.get("error") or {}
        listed.append(
            {
                "started_at": run["started_at"],
                "workspace": run["workspace__name"],
                "destination": run["destination__name"] or "(deleted)",
                "url": change_url(run["destination_id"]) if run["destination_id"] else "",
                "type_label": type_label(run["destination_type"]),
                "step": failed.get("name", ""),
                "error_code": error.get("code") or run["error_code"],
                "message": failed.get("message", ""),
                "remediation": error.get("remediation", ""),
            }
        )
    return listed


def failure_groups(limit: int = GROUPS_SHOWN, examples: int = EXAMPLES_PER_GROUP) -> tuple[list[dict], int]:
    """The largest groups of destinations in `error` by workspace and type (at most `limit`), each with up to
    `examples` destinations and the step their latest test failed at; and how many groups there are in all."""
    in_error = Destination.objects.filter(status=DestinationStatus.ERROR)
    counted = (
        in_error.order_by()
        .values("workspace_id", "workspace__name", "destination_type")
        .annotate(count=Count("id"))
        .order_by("-count", "workspace__name", "destination_type")
    )
    groups = list(counted[:limit])
    if not groups:
        return [], 0
    total_groups = counted.count()
    workspaces = {g["workspace_id"] for g in groups}
    sampled = (
        in_error.filter(workspace_id__in=workspaces)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("workspace_id"), F("destination_type")], order_by=F("name").asc())
        )
        .filter(rank__lte=examples)
        .values("id", "workspace_id", "destination_type", "name", "status_error")
        .order_by("name", "id")
    )
    rows = list(sampled)
    latest_steps = (
        TestRun.objects.filter(destination=OuterRef("pk"), finished_at__isnull=False)
        .order_by("-started_at")
        .values("steps")[:1]
    )
    steps_by_id = dict(
        Destination.objects.filter(pk__in=[r["id"] for r in rows])
        .annotate(latest_steps=Subquery(latest_steps, output_field=JSONField()))
        .values_list("id", "latest_steps")
    )
    change_url = _change_url_of()
    changelist = reverse("admin:destinations_destination_changelist")
    by_group: dict[tuple, list[dict]] = {}
    for row in rows:
        failed = _failed_step(steps_by_id.get(row["id"]))
        by_group.setdefault((row["workspace_id"], row["destination_type"]), []).append(
            {
                "name": row["name"],
                "url": change_url(row["id"]),
                "error": row["status_error"],
                "step": failed.get("name", ""),
                "error_code": (failed.get("error") or {}).get("code", ""),
            }
        )
    listed = []
    for group in groups:
        query = {
            "status__exact": DestinationStatus.ERROR,
            "destination_type__exact": group["destination_type"],
            "workspace__id__exact": str(group["workspace_id"]),
        }
        listed.append(
            {
                "workspace_id": group["workspace_id"],
                "workspace_label": f"{group['workspace__name']} ({str(group['workspace_id'])[:4]}…)",
                "destination_type": group["destination_type"],
                "type_label": type_label(group["destination_type"]),
                "count": group["count"],
                "destinations": by_group.get((group["workspace_id"], group["destination_type"]), []),
                "list_url": f"{changelist}?{urlencode(query)}",
            }
        )
    return listed, total_groups


@require_GET
def failures_dashboard(request, model_admin) -> TemplateResponse:
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    changelist = reverse("admin:destinations_destination_changelist")
    counts = [
        {"status": value, "label": label, "count": n, "url": f"{changelist}?status__exact={value}"}
        for (value, label), n in zip(DestinationStatus.choices, status_counts().values(), strict=True)
    ]
    groups, total_groups = failure_groups()
    expiring = [
        {
            **row,
            "url": _url("change", row["destination"].pk),
            "workspace_label": workspace_label(row["destination"].workspace),
        }
        for row in expiring_soon()
    ]
    context = _context(
        model_admin,
        request,
        title="Destination failures",
        counts=counts,
        groups=groups,
        total_groups=total_groups,
        examples_per_group=EXAMPLES_PER_GROUP,
        in_error_url=f"{changelist}?status__exact={DestinationStatus.ERROR}",
        trends=daily_results(),
        trend_days=TREND_DAYS,
        failures=newest_failures(),
        expiring=expiring,
    )
    return TemplateResponse(request, "admin/destinations/destination/dashboard.html", context)
