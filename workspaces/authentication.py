"""`Authorization: Bearer <token>` authentication for the REST API."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from .models import TOKEN_PREFIX, ApiToken, hash_token
from .services import api_token_touch
from .throttling import AuthFailureThrottle


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, plaintext = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        throttle = AuthFailureThrottle()
        wait = throttle.blocked_for(request)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed authentication attempts from this address.")
        plaintext = plaintext.strip()
        token = None
        if plaintext.startswith(TOKEN_PREFIX):
            token = (
                ApiToken.objects.active()
                .select_related("user", "workspace")
                .filter(digest=hash_token(plaintext))
                .first()
            )
        if token is None or not token.user.is_active:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        api_token_touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
