"""Stream tokens: how a browser's `EventSource`, which cannot send headers, follows one test run.

A member asks for one with their API token (POST …/test-runs/{run_id}/stream-token). It is signed with the
server's secret key and names the run, its workspace and the member; it is good for SSE_STREAM_TOKEN_SECONDS
and for nothing but that run's events (GET …/test-runs/{run_id}/events?stream_token=…): no other view accepts
it, and no view takes the API token from a query string. The access log masks it (observability.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.utils import timezone
from rest_framework import authentication, exceptions

from workspaces.throttling import AuthFailureThrottle

QUERY_PARAM = "stream_token"
_SALT = "destinations.stream-token.test-run-events"  # the one purpose a token serves


@dataclass(frozen=True)
class StreamGrant:
    """What a valid stream token allows: reading one run's events in one workspace."""

    run_id: uuid.UUID
    workspace_id: uuid.UUID


def stream_token_issue(*, run, user) -> tuple[str, datetime]:
    """A token for `user` to read `run`'s events, and when it expires."""
    token = signing.dumps({"run": run.pk.hex, "workspace": run.workspace_id.hex, "user": str(user.pk)}, salt=_SALT)
    return token, timezone.now() + timedelta(seconds=settings.SSE_STREAM_TOKEN_SECONDS)


class StreamTokenAuthentication(authentication.BaseAuthentication):
    """`?stream_token=` on the run-events view; the view checks the run (`require_run`)."""

    def authenticate(self, request):
        token = request.query_params.get(QUERY_PARAM)
        if not token:
            return None
        throttle = AuthFailureThrottle()
        wait = throttle.blocked_for(request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed authentication attempts from this address.")
        try:
            claims = signing.loads(token, salt=_SALT, max_age=settings.SSE_STREAM_TOKEN_SECONDS)
            user = get_user_model().objects.filter(pk=claims["user"], is_active=True).first()
            grant = StreamGrant(run_id=uuid.UUID(claims["run"]), workspace_id=uuid.UUID(claims["workspace"]))
        except signing.SignatureExpired:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed(
                "This stream token has expired; ask for a new one: POST …/destinations/test-runs/{run_id}/stream-token."
            ) from None
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            user = None
        if user is None:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed(
                "Invalid stream token. Ask for one with your API token (POST …/destinations/test-runs/{run_id}/"
                "stream-token); the API token itself is never accepted in a URL."
            )
        return user, grant


def require_run(request, run_id) -> None:
    """A stream token reads only the run it was issued for: any other is not found, as for a non-member."""
    grant = request.auth
    if isinstance(grant, StreamGrant) and grant.run_id != run_id:
        raise exceptions.NotFound("Not found.")
