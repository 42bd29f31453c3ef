"""Query parameters read strictly: a value outside what the schema documents is a 400 naming the parameter."""

from __future__ import annotations

from ..errors import InvalidInput

TRUE, FALSE = ("true", "1"), ("false", "0")


def int_param(request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise InvalidInput({name: [f"Must be a whole number from {minimum} to {maximum}."]})
    return int(raw)


def bool_param(request, name: str, *, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() not in TRUE + FALSE:
        raise InvalidInput({name: ["Must be true or false."]})
    return raw.lower() in TRUE
