"""Errors the services raise; the API, admin and commands each present them in their own way."""

from __future__ import annotations


class InvalidInput(Exception):
    """Bad input, keyed by field path (`config.instance_url`)."""

    def __init__(self, errors: dict[str, list[str]], extra: dict | None = None):
        self.errors = errors
        self.extra = extra or {}
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items()))


class Conflict(Exception):
    """The request is valid but something blocks it; `blocking` names what."""

    def __init__(self, detail: str, blocking: list[dict]):
        self.detail = detail
        self.blocking = blocking
        super().__init__(detail)


class VendorFailure(Exception):
    """The vendor (or the way to it) failed; carries the step-style error."""

    def __init__(self, error):
        self.error = error
        super().__init__(error.message)


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key sent again with a different request: neither replayed nor run."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class BackendUnavailable(Exception):
    """A backing service (the broker) is down; the request may be retried after `retry_after` seconds."""

    def __init__(self, detail: str, retry_after: int = 5):
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


class TooBusy(Exception):
    """A limit on work in progress is reached (a workspace's jobs); the request may be retried after `retry_after`."""

    def __init__(self, detail: str, retry_after: int):
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


def blocking_references(protected_objects) -> list[dict]:
    return [
        {"type": getattr(obj, "BLOCKING_TYPE", "destination"), "id": str(obj.pk), "name": obj.name}
        for obj in sorted(protected_objects, key=lambda o: (type(o).__name__, o.name))
    ]


def stored_config_invalid(exc: InvalidInput, *, consequence: str = "") -> str:
    """What a check or a test of a destination says when its stored config no longer validates."""
    return f"The stored config is not valid{', so ' + consequence if consequence else ''}: {exc}"
