"""The one JSON body parser of the API: bounded in size and depth, and only text every database can store.

A body nested deeper than MAX_JSON_DEPTH, or holding a NUL character or a lone surrogate (PostgreSQL refuses
the first, and no UTF-8 answer can carry the second) is a 400 naming where it is, before anything is stored.
A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 naming the limit: DRF 3.16 hands this parser the
request stream, and later versions `request.body`, which Django refuses (destinations/api/errors.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from .errors import BodyTooLarge

MAX_JSON_DEPTH = 32


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(-1 if limit is None else limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise BodyTooLarge()
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise ParseError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"The body is not valid JSON ({type(exc).__name__}).") from None
        problems: dict[str, list[str]] = {}
        _check(data, "", 0, problems)
        if problems:
            raise ValidationError(problems)
        return data


def _check(value: Any, path: str, depth: int, problems: dict[str, list[str]]) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ParseError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            problems.setdefault(path or "non_field_errors", []).append(problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            problem = _text_problem(key)
            if problem:
                problems.setdefault(path or "non_field_errors", []).append(f"A key: {problem[0].lower()}{problem[1:]}")
                child = f"{path}.<key>" if path else "<key>"
            _check(item, child, depth + 1, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, f"{path}.{index}" if path else str(index), depth + 1, problems)


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "Contains a NUL character, which cannot be stored."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains a lone surrogate (invalid Unicode), which cannot be stored."
    return ""
