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


def hubspot_messages(what: str = "") -> list:
    return [m for m in api_version_sunsets() if m.msg.startswith(f"HubSpot: {what}")]


def test_a_default_within_90_days_of_its_sunset_is_a_warning(settings):
    sunset = get_connector_class("hubspot").api_version_sunset
    settings.API_VERSION_CHECK_TODAY = (sunset - timedelta(days=30)).isoformat()
    (hubspot,) = hubspot_messages("the default API version")
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
    earliest = min(dated.on for dated in get_connector_class("hubspot").dated_dependencies())
    settings.API_VERSION_CHECK_TODAY = (earliest - timedelta(days=91)).isoformat()
    assert hubspot_messages() == []


def test_hubspots_oauth_version_and_legacy_private_app_tokens_are_dated_too(settings):
    """Item 12: every dated thing HubSpot's connector relies on, not only its CRM API version."""
    settings.API_VERSION_CHECK_TODAY = "2027-08-15"
    (oauth,) = hubspot_messages("the OAuth API version 2026-03")
    assert oauth.id == "destinations.W101" and "2027-09-30" in oauth.msg
    assert "developers.hubspot.com/docs/developer-tooling/platform/versioning" in oauth.hint
    (legacy,) = hubspot_messages("legacy private-app tokens")
    assert "/oauth/v2/private-apps/get/access-token-info" in legacy.msg and "2027-09-01, in 17 days" in legacy.msg
    assert "Service Key" in legacy.hint
    assert "legacy-apis-and-legacy-apps-whats-going-unsupported-and-when" in legacy.hint


def test_hubspots_v1_oauth_deprecation_day_finds_nothing_left_on_v1(settings):
    settings.API_VERSION_CHECK_TODAY = "2027-02-16"
    assert [m.msg for m in hubspot_messages() if "v1" in m.msg] == []
    assert not any("/oauth/v1" in str(d) for d in get_connector_class("hubspot").dated_dependencies())


@pytest.mark.parametrize("type_name", ["hubspot", "salesforce"])
def test_each_dated_dependency_names_its_source_and_remedy(type_name):
    for dated in get_connector_class(type_name).dated_dependencies():
        assert dated.source.startswith("https://"), dated
        assert dated.remedy, dated


@pytest.mark.parametrize("type_name", PINNED)
def test_each_connector_that_pins_a_version_declares_it_with_its_source(type_name):
    connector = get_connector_class(type_name)
    assert connector.default_api_version
    assert connector.api_version_doc.startswith("https://")
    assert connector.api_version_sunset is None or isinstance(connector.api_version_sunset, date)
