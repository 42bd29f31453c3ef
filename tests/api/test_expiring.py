"""credentials_expire_at on the destination and connection objects, and the "expiring within N days" filter."""

from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.models import Connection, Destination
from tests.factories import ConnectionFactory, DestinationFactory

pytestmark = pytest.mark.django_db


def expiring(model, pk, **delta):
    moment = timezone.now().replace(microsecond=0) + timedelta(**delta)
    model.objects.filter(pk=pk).update(credentials_expire_at=moment)
    return moment.isoformat().replace("+00:00", "Z")


def test_destinations_show_and_filter_by_when_their_credentials_expire(api):
    soon = DestinationFactory(workspace=api.workspace)
    later = DestinationFactory(workspace=api.workspace)
    unknown = DestinationFactory(workspace=api.workspace)
    shown = expiring(Destination, soon.pk, days=10)
    expiring(Destination, later.pk, days=40)

    detail = api.get(api.path(f"destinations/{soon.pk}")).json()
    assert detail["credentials_expire_at"] == shown
    assert api.get(api.path(f"destinations/{unknown.pk}")).json()["credentials_expire_at"] is None
    within = api.get(api.path("destinations"), {"expiring_within_days": 14}).json()
    assert [d["id"] for d in within] == [str(soon.pk)]
    assert {d["id"] for d in api.get(api.path("destinations"), {"expiring_within_days": 60}).json()} == {
        str(soon.pk),
        str(later.pk),
    }
    assert len(api.get(api.path("destinations")).json()) == 3


def test_connections_show_and_filter_by_when_their_credentials_expire(api):
    soon = ConnectionFactory(workspace=api.workspace)
    ConnectionFactory(workspace=api.workspace)
    shown = expiring(Connection, soon.pk, days=3)
    listed = api.get(api.path("connections"), {"expiring_within_days": 7}).json()
    assert [(c["id"], c["credentials_expire_at"]) for c in listed] == [(str(soon.pk), shown)]


@pytest.mark.parametrize("value", ["soon", "-1", "99999"])
def test_a_bad_number_of_days_is_a_400_naming_the_parameter(api, value):
    answer = api.get(api.path("destinations"), {"expiring_within_days": value})
    assert answer.status_code == 400
    assert "expiring_within_days" in answer.json()["errors"]
