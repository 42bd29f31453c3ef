"""Shared by the API-key marketing connectors (braze, iterable, klaviyo, mailchimp).

They all call one vendor REST API with a static key: the connectivity probe, the parsing of a vendor's
error body into a ConnectorError, and keeping the key out of every message are the same for each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from .base import Connector
from .errors import ConnectorError, ErrorCode
from .http import error_for_status


class ApiKeyConnector(Connector):
    """A connector whose vendor answers JSON and takes a static API key; subclasses set `vendor`."""

    vendor: ClassVar[str]

    # --- calls ------------------------------------------------------------------------------

    @staticmethod
    def body(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def json_object(self, response: requests.Response, key: str | None = None) -> dict:
        """A 2xx answer's JSON object (which must hold `key`), else a vendor_error naming what was missing."""
        data = self.body(response)
        if not isinstance(data, dict) or (key is not None and key not in data):
            what = f"a JSON object with '{key}'" if key else "a JSON object"
            raise ConnectorError(
                ErrorCode.VENDOR_ERROR,
                f"{self.vendor} answered HTTP {response.status_code} without {what}.",
                remediation="Check the configured host is the vendor's API; retry later if it persists.",
                http_status=response.status_code,
                details={"http_status": response.status_code},
            )
        return data

    # --- failures ---------------------------------------------------------------------------

    def failure(
        self,
        response: requests.Response,
        *,
        summary: str = "",
        vendor_message: Any = "",
        vendor_code: Any = None,
        code: ErrorCode | None = None,
        remediation: str = "",
        retry_after: float | None = None,
        details: dict | None = None,
    ) -> ConnectorError:
        """The ConnectorError for a vendor's error answer: the vendor's own code and text (redacted), a lead
        sentence saying what is wrong, Retry-After for 429s (or `retry_after` when the vendor uses another
        header), and `http_status` / `vendor_code` in the details."""
        error = error_for_status(
            response,
            self.vendor,
            vendor_message=self.redact(vendor_message),
            vendor_code=self.redact(vendor_code) or None,
            code=code,
            remediation=remediation,
        )
        if error.code is ErrorCode.RATE_LIMITED:
            error.with_retry_after(retry_after)
        if summary:
            error.message = f"{summary}. {error.message.rstrip('.')}."
        error.details = {"http_status": response.status_code, **(details or {})}
        if error.vendor_code:
            error.details["vendor_code"] = error.vendor_code
        if error.retry_after is not None:
            error.details["retry_after"] = error.retry_after
        return error


def seconds_until(epoch: Any) -> float | None:
    """Seconds from now until a Unix timestamp header value (e.g. X-RateLimit-Reset), or None."""
    try:
        return max(0.0, round(float(epoch) - datetime.now(UTC).timestamp()))
    except (TypeError, ValueError):
        return None
