"""Shared by the API-key marketing connectors (braze, iterable, klaviyo, mailchimp).

They all call one vendor REST API with a static key and read its JSON: a 2xx answer must be the JSON
object the step expects; each connector maps error answers with its own ErrorTable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from .runtime.base import Connector
from .runtime.errors import ConnectorError, ErrorCode
from .runtime.vendor import read_json


class ApiKeyConnector(Connector):
    """A connector whose vendor answers JSON and takes a static API key; subclasses set `vendor`."""

    vendor: ClassVar[str]

    def json_object(self, response: requests.Response, key: str | None = None) -> dict:
        """A 2xx answer's JSON object (which must hold `key`), else a vendor_error naming what was missing."""
        data = read_json(response)
        if not data or (key is not None and key not in data):
            what = f"a JSON object with '{key}'" if key else "a JSON object"
            raise ConnectorError(
                ErrorCode.VENDOR_ERROR,
                f"{self.vendor} answered HTTP {response.status_code} without {what}.",
                remediation="Check the configured host is the vendor's API; retry later if it persists.",
                http_status=response.status_code,
                details={"http_status": response.status_code},
            )
        return data


def seconds_until(epoch: Any) -> float | None:
    """Seconds from now until a Unix timestamp header value (e.g. X-RateLimit-Reset), or None."""
    try:
        return max(0.0, round(float(epoch) - datetime.now(UTC).timestamp()))
    except (TypeError, ValueError, OverflowError):
        return None
