"""read_json and ErrorTable: the one vendor-body parser and the table-driven error mapping."""

import pytest
import requests

from connectors.runtime.errors import ErrorCode
from connectors.runtime.vendor import ErrorTable, Rule, read_json


def answer(status: int, body: bytes | str = b"", headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    "body, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", {}),
        ('"text"', {}),
        ("", {}),
        ("<html>oops</html>", {}),
        (b"\xff\xfe\x00garbage", {}),
        ("[" * 100_000 + "]" * 100_000, {}),
    ],
)
def test_read_json_gives_an_object_or_nothing_and_never_raises(body, expected):
    assert read_json(answer(200, body)) == expected


TABLE = ErrorTable(
    "Acme",
    rules=(
        Rule(ErrorCode.TOKEN_EXPIRED, "Reconnect the account.", status=401, vendor_code="token_expired"),
        Rule(ErrorCode.RATE_LIMITED, status=403, message="quota"),
        Rule(ErrorCode.INVALID_CONFIG, "The list {list_id} is archived.", vendor_code=("ARCHIVED", "GONE")),
        Rule(remediation="Ask an admin for the `write` scope.", status=403),
    ),
    remediations={ErrorCode.NOT_FOUND: "Check the list id."},
)


def test_a_rule_matching_status_and_vendor_code_decides_code_and_remediation():
    error = TABLE.error(answer(401, '{"error": {"code": "token_expired", "message": "Token has expired"}}'))
    assert error.code is ErrorCode.TOKEN_EXPIRED and error.remediation == "Reconnect the account."
    assert error.message == "Acme answered HTTP 401: token_expired Token has expired"
    assert error.details == {"http_status": 401, "vendor_code": "token_expired"}


def test_a_message_phrase_matches_case_insensitively_and_rules_are_ordered():
    assert TABLE.error(answer(403, '{"message": "Daily QUOTA exceeded"}')).code is ErrorCode.RATE_LIMITED
    plain = TABLE.error(answer(403, '{"message": "nope"}'))
    assert plain.code is ErrorCode.INSUFFICIENT_PERMISSIONS  # code=None keeps the generic code
    assert plain.remediation == "Ask an admin for the `write` scope."


def test_context_fills_a_remediation_and_doing_and_summary_frame_the_message():
    error = TABLE.error(
        answer(400, '{"code": "GONE", "message": "archived"}'),
        doing="reading the list",
        summary="The list cannot be written",
        context={"list_id": "L1"},
    )
    assert error.code is ErrorCode.INVALID_CONFIG and error.remediation == "The list L1 is archived."
    assert error.message == "The list cannot be written. Acme answered HTTP 400: GONE archived (while reading the list)"


def test_no_rule_falls_back_to_the_status_mapping_and_the_tables_remediations():
    error = TABLE.error(answer(404, "not json"))
    assert error.code is ErrorCode.NOT_FOUND and error.remediation == "Check the list id."
    assert TABLE.error(answer(502)).code is ErrorCode.VENDOR_ERROR
    assert TABLE.error(answer(408)).code is ErrorCode.TIMEOUT


def test_retry_after_is_read_and_capped_at_an_hour():
    error = TABLE.error(answer(429, "{}", {"Retry-After": str(11 * 365 * 86400)}))
    assert error.code is ErrorCode.RATE_LIMITED and error.retry_after == 3600
    assert error.details["retry_after"] == 3600
    reset = ErrorTable("Acme", retry_after=lambda response, body: body.get("retry_in"))
    assert reset.error(answer(429, '{"retry_in": 7}')).retry_after == 7


def test_vendor_codes_may_be_patterns():
    table = ErrorTable(
        "G",
        rules=(Rule(ErrorCode.TOKEN_EXPIRED, vendor_code="*/ACCESS_TOKEN_EXPIRED"),),
        extract=lambda body: (body.get("c"), ""),
    )
    assert table.error(answer(401, '{"c": "UNAUTHENTICATED/ACCESS_TOKEN_EXPIRED"}')).code is ErrorCode.TOKEN_EXPIRED
    assert table.error(answer(401, '{"c": "ACCESS_TOKEN_EXPIRED_NOT"}')).code is ErrorCode.AUTH_INVALID
