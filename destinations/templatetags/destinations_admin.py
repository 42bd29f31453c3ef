"""The admin index's destinations summary: counts by status and a link to the failures dashboard."""

from __future__ import annotations

from django import template
from django.urls import reverse

from destinations.models import DestinationStatus
from destinations.selectors import status_counts

register = template.Library()


@register.inclusion_tag("admin/destinations/index_summary.html", takes_context=True)
def destinations_summary(context) -> dict:
    request = context.get("request")
    if request is None or not request.user.has_perm("destinations.view_destination"):
        return {"show": False}
    changelist = reverse("admin:destinations_destination_changelist")
    counts = status_counts()
    return {
        "show": True,
        "counts": [
            {"status": value, "label": label, "count": counts[value], "url": f"{changelist}?status__exact={value}"}
            for value, label in DestinationStatus.choices
        ],
        "dashboard_url": reverse("admin:destinations_destination_dashboard"),
    }
