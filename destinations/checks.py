"""System checks: nothing dated a connector depends on (its default vendor API version, an OAuth endpoint)
may be close to (or past) its published sunset.

`manage.py check` runs them, and so does CI, so an expiring default is caught before users' tests and syncs fail.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core import checks

from connectors.runtime.registry import connector_classes

SUNSET_WARNING = timedelta(days=90)


@checks.register(checks.Tags.compatibility)
def api_version_sunsets(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A warning within 90 days of a dated dependency's sunset, an error once it passed.

    API_VERSION_CHECK_TODAY (an ISO date) replaces today, so the rule itself can be tested.
    """
    today = date.fromisoformat(getattr(settings, "API_VERSION_CHECK_TODAY", None) or date.today().isoformat())
    messages: list[checks.CheckMessage] = []
    for connector in connector_classes().values():
        for dated in connector.dated_dependencies():
            if today < dated.on - SUNSET_WARNING:
                continue
            if today >= dated.on:
                messages.append(
                    checks.Error(
                        f"{connector.label}: {dated.what} was retired on {dated.on.isoformat()}.",
                        hint=dated.remedy,
                        id="destinations.E101",
                    )
                )
            else:
                days = (dated.on - today).days
                messages.append(
                    checks.Warning(
                        f"{connector.label}: {dated.what} is retired on {dated.on.isoformat()}, in {days} days.",
                        hint=dated.remedy,
                        id="destinations.W101",
                    )
                )
    return messages
