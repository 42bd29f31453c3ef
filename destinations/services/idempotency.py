"""`Idempotency-Key`: a retried POST answers as the first one did instead of acting twice.

A key is kept per workspace for IDEMPOTENCY_KEY_HOURS. It is claimed by inserting a row under a unique
constraint in the same transaction as the work, so two concurrent requests with one key cannot both act:
the second waits for the first to commit, then replays it. Only a keyed hash of the request is stored,
never the body (it may carry secrets).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..errors import IdempotencyKeyReused, InvalidInput
from ..models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Outcome:
    resource_id: uuid.UUID
    status_code: int
    replayed: bool
    value: Any = None  # what `perform` returned; None on a replay


def valid_key(value: str | None) -> str | None:
    """The header's key, None when absent; 400 naming the header when it cannot be a key."""
    if value is None:
        return None
    if not value or len(value) > MAX_KEY_LENGTH or not value.isprintable() or not value.isascii():
        raise InvalidInput({HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]})
    return value


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """A keyed hash of what the request asks for: unguessable offline, so it reveals nothing of the body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    message = f"{method} {path}\n{canonical}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def expired_before():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)


def run_once(
    *,
    workspace,
    key: str | None,
    fingerprint: str,
    status_code: int,
    perform: Callable[[], tuple[uuid.UUID, Any]],
) -> Outcome:
    """Run `perform` (returning the id of what it made, and a value) once per key; replay it afterwards.

    The same key with another request is IdempotencyKeyReused. Without a key, `perform` simply runs.
    """
    if key is None:
        resource_id, value = perform()
        return Outcome(resource_id, status_code, replayed=False, value=value)
    with transaction.atomic():
        IdempotencyKey.objects.filter(workspace=workspace, key=key, created_at__lt=expired_before()).delete()
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(workspace=workspace, key=key, fingerprint=fingerprint)
        except IntegrityError:  # taken (by a request that has committed: the insert waited for it)
            record = None
        if record is not None:
            resource_id, value = perform()
            record.resource_id, record.status_code = resource_id, status_code
            record.save(update_fields=["resource_id", "status_code"])
            return Outcome(resource_id, status_code, replayed=False, value=value)
        first = IdempotencyKey.objects.get(workspace=workspace, key=key)
    if not hmac.compare_digest(first.fingerprint, fingerprint):
        raise IdempotencyKeyReused(
            f"{HEADER} {key!r} was used with a different request (method, path or body) in the last "
            f"{settings.IDEMPOTENCY_KEY_HOURS} hours; send a new key for a new request."
        )
    return Outcome(first.resource_id, first.status_code, replayed=True)


def idempotency_keys_purge() -> int:
    """Forget keys past their keeping time; returns how many."""
    count, _ = IdempotencyKey.objects.filter(created_at__lt=expired_before()).delete()
    return count
