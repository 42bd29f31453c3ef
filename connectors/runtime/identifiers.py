"""Preparing audience identifiers the way a vendor asks: named normalization steps, then a hash.

Which steps and which hash a vendor wants is vendor knowledge (an IdentifierKind in its connector module);
this module only knows what each named step does, so a preview shows exactly what a sync would send.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable

from .base import IdentifierKind

_WHITESPACE = re.compile(r"\s+")
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


class NotNormalizable(ValueError):
    """The value cannot be made into what the vendor accepts; the message says why and what to send."""


def _e164(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if not value.strip().startswith("+"):
        raise NotNormalizable("No country code: send phone numbers in E.164 form, with + and the country code.")
    if not 8 <= len(digits) <= 15:
        raise NotNormalizable("An E.164 number has 8 to 15 digits after the +.")
    return "+" + digits


def _digits_with_country_code(value: str) -> str:
    digits = re.sub(r"\D", "", value).lstrip("0")
    if not value.strip().startswith(("+", "00")):
        raise NotNormalizable("No country code: send phone numbers with + and the country code.")
    if not 8 <= len(digits) <= 15:
        raise NotNormalizable("A phone number with its country code has 8 to 15 digits.")
    return digits


def _email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain:
        raise NotNormalizable("Not an email address (name@domain).")
    return value


def _gmail_canonical(value: str) -> str:
    local, _, domain = value.partition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def _letters_only(value: str) -> str:
    return "".join(ch for ch in value if unicodedata.category(ch).startswith("L"))


def _first_letter(value: str) -> str:
    letters = _letters_only(value)
    if not letters:
        raise NotNormalizable("No letter to take the initial of.")
    return letters[0]


def _nonempty(value: str) -> str:
    if not value:
        raise NotNormalizable("Empty after normalization; leave the row's value null instead.")
    return value


STEPS: dict[str, Callable[[str], str]] = {
    "trim": str.strip,
    "lowercase": str.lower,
    "remove_whitespace": lambda value: _WHITESPACE.sub("", value),
    "email": _email,
    "gmail_canonical": _gmail_canonical,
    "e164": _e164,
    "digits_with_country_code": _digits_with_country_code,
    "letters_only": _letters_only,
    "first_letter": _first_letter,
    "first_five": lambda value: value[:5],
}
HASHES: dict[str, Callable[[bytes], str]] = {
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
    "sha512": lambda data: hashlib.sha512(data).hexdigest(),
}


def prepare(kind: IdentifierKind | dict, value: object) -> dict:
    """{"normalized", "sent"} for one value, or {"problem"} naming why the vendor would not match it."""
    if isinstance(kind, dict):
        kind = IdentifierKind(kind["kind"], tuple(kind["normalize"]), kind.get("hash", ""), kind.get("source", ""))
    text = "" if value is None else str(value)
    try:
        for step in kind.normalize:
            text = STEPS[step](text)
        text = _nonempty(text)
    except NotNormalizable as problem:
        return {"problem": str(problem)}
    sent = HASHES[kind.hash](text.encode()) if kind.hash else text
    return {"normalized": text, "sent": sent}
