"""`Authorization: Bearer <token>` authentication for the REST API."""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from rest_framework import authentication, exceptions

from .models import TOKEN_PREFIX, ApiToken, Membership, hash_token
from .services import api_token_touch
from .throttling import AuthFailureThrottle

_role_of_token_user = Membership.objects.filter(
    user_id=OuterRef("user_id"), workspace_id=OuterRef("workspace_id")
).values("role")[:1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """A token and, in the same query, its user's role in the token's workspace (`token.member_role`).

    Every API request then needs one query to know who calls and what they may do there.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, plaintext = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = self.active_token(plaintext.strip())
        if token is None:
            self.refuse(request)
        api_token_touch(token)
        return token.user, token

    @staticmethod
    def active_token(plaintext: str) -> ApiToken | None:
        if not plaintext.startswith(TOKEN_PREFIX):
            return None
        token = (
            ApiToken.objects.active()
            .select_related("user", "workspace")
            .annotate(member_role=Subquery(_role_of_token_user))
            .filter(digest=hash_token(plaintext))
            .first()
        )
        return token if token is not None and token.user.is_active else None

    @staticmethod
    def refuse(request) -> None:
        """A 401 counted against the client address; past the limit, a 429 until the oldest failure ages out.

        Only unknown tokens are refused: a valid token is looked up first and always authenticates, so one
        client spraying bad tokens behind a shared address (a NAT, a load balancer) locks out no one else.
        """
        throttle = AuthFailureThrottle()
        wait = throttle.blocked_for(request)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait,
                detail="Too many failed authentication attempts from this address; check the token "
                "(it is wrong or revoked).",
            )
        throttle.record_failure(request)
        raise exceptions.AuthenticationFailed("Invalid or revoked token.")

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Development only (added when DJANGO_DEBUG is on): staff logged into the admin use the browsable API.

    Django's session, with DRF's CSRF check on every unsafe request; anyone but staff is ignored.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result
