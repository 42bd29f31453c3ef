"""Redactor: every form of a secret a vendor may echo is masked, and a cap never leaves half a secret."""

import base64
import json
from urllib.parse import quote, quote_plus

from connectors.runtime.redaction import MASK, MAX_VENDOR_TEXT, Redactor

SECRET = "s3cr+t/val=ue&x y"


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote(value, safe="").lower(),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        json.dumps(value)[1:-1],
        base64.b64encode(b"user:" + raw).decode(),  # a Basic header with any user name
        base64.urlsafe_b64encode(b'{"alg":"RS256"}.' + raw + b".sig").decode(),  # inside a longer blob
    ]


def test_every_form_is_masked():
    redactor = Redactor([SECRET])
    for form in forms(SECRET):
        said = redactor.text(f"vendor says: {form} end")
        assert form not in said, form
        assert MASK in said


def test_secrets_added_later_are_masked_and_short_values_are_not():
    redactor = Redactor(["abc"])
    assert redactor.text("abc") == "abc"
    redactor.add("access-token-123")
    assert redactor.text("Bearer access-token-123") == f"Bearer {MASK}"


def test_long_text_is_masked_before_it_is_capped_and_a_cut_secret_is_masked():
    secret = "x" * 40 + "SECRETTAIL"
    redactor = Redactor([secret])
    text = "a" * (MAX_VENDOR_TEXT - 20) + secret
    assert len(redactor.text(text)) <= MAX_VENDOR_TEXT
    assert "xxxxxxxxxx" not in redactor.text(text)
    cut = Redactor(["0123456789abcdef"])
    said = cut.text("b" * (MAX_VENDOR_TEXT - 6) + "0123456789abcdef")
    assert "012" not in said and len(said) <= MAX_VENDOR_TEXT


def test_deep_masks_every_string_in_a_structure():
    redactor = Redactor([SECRET])
    assert redactor.deep({"a": [SECRET, {"b": quote_plus(SECRET)}], "n": 3}) == {"a": [MASK, {"b": MASK}], "n": 3}
