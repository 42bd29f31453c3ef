"""Reading vendor answers: the one body parser and the table-driven mapping of vendor errors.

Every connector reads a vendor's JSON with `read_json` and turns an error answer into a ConnectorError
with its own `ErrorTable`: rules matching the HTTP status, the vendor's error code and/or a phrase of its
message, each giving our ErrorCode and a remediation. What no rule matches falls back to the generic
status mapping (`http.error_for_status`). Vendor text is quoted as-is; the connector runtime masks
secrets in it and caps it (connectors/base.py), so tables never redact.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import requests

from .errors import ConnectorError, ErrorCode
from .http import error_for_status


def read_json(response: requests.Response) -> dict:
    """The answer's JSON object; {} when the body is empty, not JSON, not an object or unreadable."""
    try:
        data = response.json()
    except (ValueError, TypeError, RecursionError, requests.RequestException):
        return {}
    return data if isinstance(data, dict) else {}


def _as_set(value: Any) -> frozenset | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return frozenset([value])
    return frozenset(value)


@dataclass(frozen=True)
class Rule:
    """One row: every criterion given must match. `code=None` keeps the generic code for the status.
    `summary` leads the message (what is wrong, in our words); it and `remediation` may hold `{placeholders}`
    filled from the `context` given to `ErrorTable.error`."""

    code: ErrorCode | None = None
    remediation: str = ""
    status: int | Collection[int] | None = None
    vendor_code: str | Collection[str] | None = None  # exact codes, or shell-style patterns ("*/NOT_FOUND")
    message: str | None = None  # a phrase of the vendor's message, case-insensitive
    retryable: bool | None = None
    summary: str = ""

    def matches(self, status: int, vendor_code: str, vendor_message: str) -> bool:
        statuses, codes = _as_set(self.status), _as_set(self.vendor_code)
        if statuses is not None and status not in statuses:
            return False
        if codes is not None and not any(fnmatchcase(vendor_code, str(pattern)) for pattern in codes):
            return False
        return self.message is None or self.message.lower() in vendor_message.lower()


Extractor = Callable[[dict], tuple[Any, Any]]


def standard_extract(body: dict) -> tuple[Any, Any]:
    """(vendor code, vendor message) from the common shapes: {"error": {"code"/"status", "message"}},
    OAuth's {"error", "error_description"}, or top-level {"code", "message"}."""
    error = body.get("error")
    if isinstance(error, dict):
        return error.get("code") or error.get("status") or error.get("type"), error.get("message")
    if isinstance(error, str):
        return error, body.get("error_description") or body.get("message")
    return body.get("code") or body.get("error_code"), body.get("message") or body.get("detail")


@dataclass(frozen=True)
class ErrorTable:
    """One vendor's error mapping. `rules` are tried in order; the first match decides code and remediation.

    `remediations` gives the remediation for a final code no rule named one for; `retry_after` reads a
    vendor-specific retry delay (a reset header, a body field) for rate-limited answers.
    """

    vendor: str
    rules: tuple[Rule, ...] = ()
    extract: Extractor = standard_extract
    remediations: Mapping[ErrorCode, str] = field(default_factory=dict)
    retry_after: Callable[[requests.Response, dict], float | None] | None = None

    def parts(self, response: requests.Response) -> tuple[str, str]:
        """(vendor code, vendor message) as text ("" when absent)."""
        code, message = self.extract(read_json(response))
        return _text(code), _text(message)

    def rule_for(self, status: int, vendor_code: str, vendor_message: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(status, vendor_code, vendor_message)), None)

    def error(
        self,
        response: requests.Response,
        *,
        doing: str = "",
        summary: str = "",
        code: ErrorCode | None = None,
        remediation: str = "",
        context: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> ConnectorError:
        """The ConnectorError for an error answer.

        `doing` ("reading the user list") is appended to the message, `summary` leads it; `code` and
        `remediation` override the table; `context` fills `{placeholders}` in a rule's remediation.
        `details` always carry `http_status`, plus `vendor_code` and `retry_after` when known.
        """
        vendor_code, vendor_message = self.parts(response)
        rule = self.rule_for(response.status_code, vendor_code, vendor_message)
        final_code = code or (rule.code if rule else None)
        if final_code is None:
            final_code = error_for_status(response, self.vendor).code
        hint = remediation or (rule.remediation if rule else "") or self.remediations.get(final_code, "")
        summary = summary or (rule.summary if rule else "")
        if context:
            hint = hint.format_map(_Defaulting(context))
            summary = summary.format_map(_Defaulting(context))
        error = error_for_status(
            response,
            self.vendor,
            vendor_message=vendor_message,
            vendor_code=vendor_code or None,
            code=final_code,
            remediation=hint,
        )
        if rule is not None and rule.retryable is not None:
            error.retryable = rule.retryable
        if error.code is ErrorCode.RATE_LIMITED and self.retry_after is not None:
            error.with_retry_after(self.retry_after(response, read_json(response)))
        if summary:
            error.message = f"{summary}. {error.message}"
        if doing:
            error.message = f"{error.message} (while {doing})"
        error.details = {"http_status": response.status_code, **(details or {})}
        if error.vendor_code:
            error.details["vendor_code"] = error.vendor_code
        if error.retry_after is not None:
            error.details["retry_after"] = error.retry_after
        return error


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return " ".join(str(value).split())


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
