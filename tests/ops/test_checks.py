"""The API-version sunset check: warns 90 days ahead of a default version's retirement, fails once it passed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from connectors.runtime.registry import get_connector_class
from destinations.checks import api_version_sunsets

PINNED = ("salesforce", "hubspot", "facebook_ads", "linkedin_ads", "klaviyo", "google_ads")


def test_no_default_version_is_within_90_days_of_its_sunset_today():
    """Fails in CI 90 days before a vendor retires a default version, so it moves before users are hit."""
    call_command("check", fail_level="WARNING")


def test_a_default_within_90_days_of_its_sunset_is_a_warning(settings):
    sunset = get_connector_class("hubspot").api_version_sunset
    settings.API_VERSION_CHECK_TODAY = (sunset - timedelta(days=30)).isoformat()
    (hubspot,) = [m for m in api_version_sunsets() if m.msg.startswith("HubSpot")]
    assert hubspot.level == checks.WARNING
    assert hubspot.id == "destinations.W101"
    assert hubspot.msg == f"HubSpot: the default API version 2026-03 is retired on {sunset.isoformat()}, in 30 days."
    assert "developers.hubspot.com/docs/developer-tooling/platform/versioning" in hubspot.hint


def test_a_default_past_its_sunset_is_an_error(settings):
    sunset = get_connector_class("hubspot").api_version_sunset
    settings.API_VERSION_CHECK_TODAY = sunset.isoformat()
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert "destinations.E101" in str(caught.value)
    assert "HubSpot: the default API version 2026-03 was retired" in str(caught.value)


def test_before_the_window_nothing_is_said(settings):
    sunset = get_connector_class("hubspot").api_version_sunset
    settings.API_VERSION_CHECK_TODAY = (sunset - timedelta(days=91)).isoformat()
    assert [m for m in api_version_sunsets() if m.msg.startswith("HubSpot")] == []


@pytest.mark.parametrize("type_name", PINNED)
def test_each_connector_that_pins_a_version_declares_it_with_its_source(type_name):
    connector = get_connector_class(type_name)
    assert connector.default_api_version
    assert connector.api_version_doc.startswith("https://")
    assert connector.api_version_sunset is None or isinstance(connector.api_version_sunset, date)
