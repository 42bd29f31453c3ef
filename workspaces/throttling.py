"""Rate limits: failed authentication per client address, and the endpoints that call vendors per token and address.

Built on DRF's SimpleRateThrottle (history kept in Django's cache, so limits are shared across processes when
the cache is Redis). Rates come from settings.API_RATE_LIMITS at request time, not at import, so an operator
(or a test) can change them; a scope set to None is not limited.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .client_address import client_address


class _ScopedThrottle(SimpleRateThrottle):
    scope: str

    def __init__(self):  # the rate is read per request: see get_rate
        pass

    def get_rate(self):
        return settings.API_RATE_LIMITS.get(self.scope)

    def get_ident(self, request):
        """The client address by the project's one rule (TRUSTED_PROXIES), not DRF's NUM_PROXIES."""
        return client_address(request)

    def allow_request(self, request, view):
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AuthFailureThrottle(_ScopedThrottle):
    """Bad bearer tokens from one client address: past the limit, its unknown tokens are a 429 for a while."""

    scope = "auth_failures"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def blocked_for(self, request) -> float | None:
        """Seconds this address must still wait (without counting this request), or None."""
        self.rate = self.get_rate()
        if self.rate is None:
            return None
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, None)
        self.now = self.timer()
        self.history = [hit for hit in self.cache.get(self.key, []) if hit > self.now - self.duration]
        return self.wait() if len(self.history) >= self.num_requests else None

    def record_failure(self, request) -> None:
        super().allow_request(request, None)


class _VendorCallThrottle(_ScopedThrottle):
    """Endpoints that make this server call a vendor (connection tests, a fields refresh)."""

    def applies(self, request, view) -> bool:
        return True

    def allow_request(self, request, view):
        return not self.applies(request, view) or super().allow_request(request, view)

    def charge(self, request, view, calls: int) -> float | None:
        """Count `calls` vendor calls at once (a job's tests): None when they fit in the budget (and they are
        recorded), else the seconds until they would."""
        self.rate = self.get_rate()
        if self.rate is None or calls < 1:
            return None
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return None
        self.now = self.timer()
        self.history = [hit for hit in self.cache.get(self.key, []) if hit > self.now - self.duration]
        if len(self.history) + calls > self.num_requests:
            overflow = len(self.history) + calls - self.num_requests
            if overflow > len(self.history):  # more than the whole budget: no wait makes it fit
                return float(self.duration)
            return max(0.0, self.history[-overflow] + self.duration - self.now)
        self.history[:0] = [self.now] * calls
        self.cache.set(self.key, self.history, self.duration)
        return None


class VendorCallsPerToken(_VendorCallThrottle):
    scope = "vendor_calls_per_token"

    def get_cache_key(self, request, view):
        ident = getattr(request.auth, "pk", None) or getattr(request.user, "pk", None)
        return self.cache_format % {"scope": self.scope, "ident": ident} if ident else None


class VendorCallsPerAddress(_VendorCallThrottle):
    scope = "vendor_calls_per_address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class FieldsRefreshPerToken(VendorCallsPerToken):
    """Only `?refresh=true` reaches the vendor; a cached answer costs nothing."""

    def applies(self, request, view) -> bool:
        return request.query_params.get("refresh", "").lower() in ("true", "1")


class FieldsRefreshPerAddress(VendorCallsPerAddress):
    applies = FieldsRefreshPerToken.applies


VENDOR_CALL_THROTTLES = [VendorCallsPerToken, VendorCallsPerAddress]
FIELDS_REFRESH_THROTTLES = [FieldsRefreshPerToken, FieldsRefreshPerAddress]
