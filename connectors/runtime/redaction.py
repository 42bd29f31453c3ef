"""Masking secrets in text a vendor or a step produced, in every form a vendor may echo them.

A vendor that quotes our request back may quote a secret raw, URL-encoded (a form body, a query string),
base64-encoded (a Basic header, a JWT part), JSON- or HTML-escaped. `Redactor` masks every one of those
forms of every value it was given, then folds whitespace and caps the text. The connector runtime
(connectors/base.py) owns the one Redactor of a run; nothing else needs to call it.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"
MAX_VENDOR_TEXT = 500  # any one text (message, remediation, detail string) is capped at this many characters
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_ELLIPSIS = "…"


def secret_forms(value: str) -> set[str]:
    """Every encoding of `value` a vendor may echo: raw, URL-encoded, base64 (at any byte offset, both
    alphabets, so it is found inside a Basic header or a JWT too), JSON- and HTML-escaped."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), html.escape(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    raw = value.encode()
    for offset in range(3):
        # The characters of base64(prefix + value) that depend on `value` alone, whatever the prefix.
        start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw).decode()
            forms.add(encoded[start:end])
            if offset == 0:
                forms.add(encoded)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Masks a growing set of secrets; `add` as credentials are configured, sent or obtained."""

    def __init__(self, secrets: Iterable[Any] = ()):
        self._values: set[str] = set()
        self._forms: list[str] = []
        self._pattern: re.Pattern | None = None
        self.add(*secrets)

    def add(self, *secrets: Any) -> None:
        new = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH} - self._values
        if not new:
            return
        self._values |= new
        forms = set(self._forms)
        for value in new:
            forms |= secret_forms(value)
        self._forms = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(form) for form in self._forms), re.IGNORECASE)

    def mask(self, text: str) -> str:
        """`text` with every form of every secret masked (no folding or capping)."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def text(self, value: Any) -> str:
        """Text safe to show: secrets masked first, then whitespace folded and the length capped, so a cap
        can never cut a secret in half and leave its start readable."""
        text = self.mask("" if value is None else str(value))
        text = " ".join(text.split())
        if len(text) <= MAX_VENDOR_TEXT:
            return text
        return self._mask_cut_tail(text[: MAX_VENDOR_TEXT - 1]) + _ELLIPSIS

    def _mask_cut_tail(self, text: str) -> str:
        """A text cut short (by us or by the vendor) may end in the first part of a secret: mask that too."""
        tail = text[-MIN_SECRET_LENGTH:]
        for form in self._forms:
            if tail.lower() not in form.lower():
                continue
            for length in range(min(len(form) - 1, len(text)), MIN_SECRET_LENGTH - 1, -1):
                if text.lower().endswith(form[:length].lower()):
                    return text[:-length] + MASK
        return text

    def deep(self, value: Any) -> Any:
        """Every string in a JSON-like structure (keys included) made safe with `text`."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value
