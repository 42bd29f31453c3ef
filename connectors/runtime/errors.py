"""The error vocabulary every connector step speaks, so a person can act on any failure the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    DNS = "dns"
    CONNECTION_REFUSED = "connection_refused"
    TLS = "tls"
    TIMEOUT = "timeout"
    AUTH_INVALID = "auth_invalid"
    TOKEN_EXPIRED = "token_expired"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    VENDOR_ERROR = "vendor_error"
    INVALID_CONFIG = "invalid_config"


MAX_RETRY_AFTER = 3600.0  # a longer delay from a vendor is capped: past an hour, "retry later" says enough

# Whether retrying the same request later can succeed without anyone changing anything.
RETRYABLE = {
    ErrorCode.DNS: False,
    ErrorCode.CONNECTION_REFUSED: True,
    ErrorCode.TLS: False,
    ErrorCode.TIMEOUT: True,
    ErrorCode.AUTH_INVALID: False,
    ErrorCode.TOKEN_EXPIRED: False,
    ErrorCode.INSUFFICIENT_PERMISSIONS: False,
    ErrorCode.NOT_FOUND: False,
    ErrorCode.RATE_LIMITED: True,
    ErrorCode.VENDOR_ERROR: True,
    ErrorCode.INVALID_CONFIG: False,
}

DEFAULT_REMEDIATION = {
    ErrorCode.DNS: "Check the host name in the configuration; it does not resolve.",
    ErrorCode.CONNECTION_REFUSED: "Check the host and port, and that the service accepts connections from us.",
    ErrorCode.TLS: "The server's TLS certificate was not accepted; check it is valid for this host name.",
    ErrorCode.TIMEOUT: "The service did not answer in time; try again, or check its health.",
    ErrorCode.AUTH_INVALID: "Check the credentials in the configuration, or create new ones.",
    ErrorCode.TOKEN_EXPIRED: "Reconnect the account to get a fresh token.",
    ErrorCode.INSUFFICIENT_PERMISSIONS: "Grant the missing permission or scope to these credentials.",
    ErrorCode.NOT_FOUND: "Check the configured target exists and these credentials can see it.",
    ErrorCode.RATE_LIMITED: "The vendor is rate-limiting these credentials; retry later.",
    ErrorCode.VENDOR_ERROR: "The vendor answered with an error; retry later or check its status page.",
    ErrorCode.INVALID_CONFIG: "Correct the configuration and test again.",
}


@dataclass
class ConnectorError(Exception):
    """Raised inside a step or a field description; becomes a failed step with an actionable message.

    `message` must never contain a secret: build it from status codes and vendor error codes, not from
    request bodies or headers.
    """

    code: ErrorCode
    message: str
    remediation: str = ""
    retryable: bool | None = None
    http_status: int | None = None
    vendor_code: str | None = None
    retry_after: float | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        self.code = ErrorCode(self.code)
        super().__init__(self.message)
        if self.retryable is None:
            self.retryable = RETRYABLE[self.code]
        if self.retry_after is not None:
            self.retry_after = min(max(0.0, float(self.retry_after)), MAX_RETRY_AFTER)
        if not self.remediation:
            self.remediation = DEFAULT_REMEDIATION[self.code]
            if self.code is ErrorCode.RATE_LIMITED and self.retry_after is not None:
                self.remediation = f"The vendor is rate-limiting these credentials; retry in {self.retry_after:g}s."

    def with_retry_after(self, seconds: float | None) -> ConnectorError:
        """Attach a retry delay the vendor gave outside Retry-After (a RetryInfo detail, a reset header)."""
        if seconds is None or self.retry_after is not None:
            return self
        self.retry_after = min(max(0.0, float(seconds)), MAX_RETRY_AFTER)
        self.message += f" (retry after {self.retry_after:g}s)"
        if self.code is ErrorCode.RATE_LIMITED and self.remediation == DEFAULT_REMEDIATION[self.code]:
            self.remediation = f"The vendor is rate-limiting these credentials; retry in {self.retry_after:g}s."
        return self

    def as_dict(self) -> dict:
        data = {"code": str(self.code), "retryable": self.retryable, "remediation": self.remediation}
        if self.http_status is not None:
            data["http_status"] = self.http_status
        if self.vendor_code:
            data["vendor_code"] = self.vendor_code
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        return data

    def __str__(self) -> str:
        return self.message
