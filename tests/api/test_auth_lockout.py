"""Bad tokens are limited per client address without locking out the valid tokens of that address.

Behind a NAT or a load balancer many users share one address: one client spraying bad tokens there gets
429s with Retry-After for its unknown tokens, and everyone else's valid token keeps working.
"""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from workspaces.models import ApiToken

pytestmark = pytest.mark.django_db


def test_bad_tokens_are_limited_and_a_valid_token_from_the_same_address_still_works(api, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "auth_failures": "5/min"}
    attacker = APIClient()

    def guess(n: int):
        attacker.credentials(HTTP_AUTHORIZATION=f"Bearer zdt_guess{n}", HTTP_X_WORKSPACE_ID=str(api.workspace.pk))
        return attacker.get(api.path("destinations"))

    assert [guess(n).status_code for n in range(5)] == [401] * 5
    refused = guess(5)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["detail"].startswith("Too many failed authentication attempts from this address")

    assert api.get(api.path("destinations")).status_code == 200  # same address (the test client's)
    assert guess(6).status_code == 429  # a valid token's success does not reset the count for bad ones


def test_a_revoked_token_counts_as_a_bad_one(api, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "auth_failures": "2/min"}
    ApiToken.objects.filter(workspace=api.workspace).update(revoked_at=timezone.now())
    assert [api.get(api.path("destinations")).status_code for _ in range(3)] == [401, 401, 429]
