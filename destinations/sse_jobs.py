"""Server-Sent Events of bulk-test jobs: each job's progress channel `testjob-<hex>`, stored in TestJobEvent rows.

The project's django-eventstream storage and channel manager are these subclasses of the test-run ones
(destinations/sse.py): they add job channels and leave test-run channels to their parents, so a job's
progress goes through the same library machinery (send_event, storage replay, Last-Event-ID) as a run's.
"""

from __future__ import annotations

import uuid

from django.db.models import Max
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist

from .sse import (
    TestRunChannelManager,
    TestRunEventStorage,
    parse_last_event_id,
    release_connection,
    resumed_events_response,
)

JOB_CHANNEL_PREFIX = "testjob-"


def _job_id(channel: str) -> uuid.UUID | None:
    return uuid.UUID(channel.removeprefix(JOB_CHANNEL_PREFIX)) if channel.startswith(JOB_CHANNEL_PREFIX) else None


class ChannelManager(TestRunChannelManager):
    """Job channels are stored too; the job views authorise their readers before they subscribe."""

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(JOB_CHANNEL_PREFIX) or super().is_channel_reliable(channel)


class EventStorage(TestRunEventStorage):
    """Test-run channels as the parent stores them; job channels in TestJobEvent rows, numbered the same way
    (a job's events are published by its one runner thread)."""

    def __init__(self):
        super().__init__()
        self._next_job_seq: dict[str, int] = {}

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        from .models import TestJobEvent

        job_id = _job_id(channel)
        if job_id is None:
            return super().append_event(channel, event_type, data)
        try:
            seq = self._next_job_seq.get(channel) or _job_current_id(job_id) + 1
            TestJobEvent.objects.create(job_id=job_id, seq=seq, type=event_type, data=data)
        finally:
            release_connection()
        if event_type == "done":
            self._next_job_seq.pop(channel, None)
        else:
            self._next_job_seq[channel] = seq + 1
        return Event(channel, event_type, data, id=seq)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        from .models import TestJobEvent

        job_id = _job_id(channel)
        if job_id is None:
            return super().get_events(channel, last_id, limit)
        try:
            rows = TestJobEvent.objects.filter(job_id=job_id, seq__gt=last_id).order_by("seq")[:limit]
            found = [Event(channel, row.type, row.data, id=row.seq) for row in rows]
            if not found and last_id and last_id > (current := _job_current_id(job_id)):
                raise EventDoesNotExist(f"No event {last_id} in {channel}", current)
            return found
        finally:
            release_connection()

    def get_current_id(self, channel: str) -> int:
        job_id = _job_id(channel)
        if job_id is None:
            return super().get_current_id(channel)
        try:
            return _job_current_id(job_id)
        finally:
            release_connection()


def _job_current_id(job_id: uuid.UUID) -> int:
    from .models import TestJobEvent

    return TestJobEvent.objects.filter(job_id=job_id).aggregate(seq=Max("seq"))["seq"] or 0


def job_events_response(request, job):
    """The one re-attach path for a job's progress (API and admin): after the request's Last-Event-ID, then live."""
    after = job_resume_after(job, parse_last_event_id(request.headers.get("Last-Event-ID"), job.channel))
    return resumed_events_response(request, job.channel, after, {"X-Test-Job-ID": str(job.pk)})


def job_resume_after(job, requested: int) -> int | None:
    """Where a watcher of `job` resumes (as `sse.resume_after` for runs): after `requested`, from the start when
    that id never existed, or None when it already has `done`."""
    events = job.events.all()
    if requested and not events.filter(seq=requested).exists():
        return 0
    if events.filter(type="done", seq__lte=requested).exists():
        return None
    return requested
