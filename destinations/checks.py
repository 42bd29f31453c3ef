"""System checks: a connector's default vendor API version must not be close to (or past) its published sunset.

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
    """A warning within 90 days of a default version's sunset, an error once it passed.

    API_VERSION_CHECK_TODAY (an ISO date) replaces today, so the rule itself can be tested.
    """
    today = date.fromisoformat(getattr(settings, "API_VERSION_CHECK_TODAY", None) or date.today().isoformat())
    messages: list[checks.CheckMessage] = []
    for connector in connector_classes().values():
        sunset = connector.api_version_sunset
        if sunset is None or today < sunset - SUNSET_WARNING:
            continue
        version = connector.default_api_version
        hint = (
            f"Move the {connector.type} connector's default API version to a current one ({connector.api_version_doc})."
        )
        if today >= sunset:
            messages.append(
                checks.Error(
                    f"{connector.label}: the default API version {version} was retired on {sunset.isoformat()}.",
                    hint=hint,
                    id="destinations.E101",
                )
            )
        else:
            days = (sunset - today).days
            messages.append(
                checks.Warning(
                    f"{connector.label}: the default API version {version} is retired on {sunset.isoformat()}, "
                    f"in {days} days.",
                    hint=hint,
                    id="destinations.W101",
                )
            )
    return messages
