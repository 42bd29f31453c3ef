"""One embedded scheduler per database: a lease row that the process running it renews every tick.

A file lock elected one process per checkout: two hosts on one database each ticked, and a second server of
the same checkout on another database never did. The lease lives in the database the scheduler works on, so
its scope is exactly that database. Times are the database's clock (`Now()`), so hosts whose clocks differ
still agree on when a lease has expired. A process that stops renewing (killed, its host lost, the database
unreachable for it) loses the lease when it expires, and the next process that asks takes it over.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, models, transaction
from django.db.models import ExpressionWrapper, Q
from django.db.models.functions import Now

from ..models import SchedulerLease

EMBEDDED_SCHEDULER_LEASE = "embedded-scheduler"


def process_identity() -> str:
    """host:pid, plus a few random characters: unique even for two schedulers in one process (the tests)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Election:
    elected: bool
    holder: str
    expires_at: datetime


def lease_take(*, holder: str, seconds: float, name: str = EMBEDDED_SCHEDULER_LEASE) -> Election:
    """Take the lease, or renew it when `holder` has it; when another process holds it, say who and until when."""
    until = ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=models.DateTimeField())
    with transaction.atomic():
        mine_or_free = Q(holder=holder) | Q(expires_at__lt=Now())
        if not SchedulerLease.objects.filter(mine_or_free, name=name).update(holder=holder, expires_at=until):
            try:
                with transaction.atomic():
                    SchedulerLease.objects.create(name=name, holder=holder, expires_at=until)
            except IntegrityError:
                pass  # another process holds it (or took it just now)
        lease = SchedulerLease.objects.get(name=name)
    return Election(elected=lease.holder == holder, holder=lease.holder, expires_at=lease.expires_at)


def lease_release(*, holder: str, name: str = EMBEDDED_SCHEDULER_LEASE) -> None:
    """Give the lease up at once (a clean stop), so another process need not wait for it to expire."""
    SchedulerLease.objects.filter(name=name, holder=holder).delete()
