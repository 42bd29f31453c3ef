"""The project's django-eventstream storage and channel manager, for every stored channel.

A test run's events (`testrun-<uuid>`) are stored in TestRunEvent rows, a test job's progress (`testjob-<uuid>`)
in TestJobEvent rows, numbered the same way, so both go through the same library machinery (send_event,
storage replay, Last-Event-ID). Settings name these classes (EVENTSTREAM_STORAGE_CLASS,
EVENTSTREAM_CHANNELMANAGER_CLASS); the library loads them when it first streams, after the app registry.
"""

from __future__ import annotations

import threading
import time
import uuid

from django.db.models import Max, QuerySet
from django_eventstream.channelmanager import DefaultChannelManager
from django_eventstream.event import Event
from django_eventstream.storage import EventDoesNotExist, StorageBase

from workspaces.models import Membership

from ..db import release_connection
from ..models import TestJobEvent, TestRun, TestRunEvent

CHANNEL_PREFIX = "testrun-"
JOB_CHANNEL_PREFIX = "testjob-"
# Each stored channel's prefix: the model of its events, and the field naming their run or job.
STORED_CHANNELS = {CHANNEL_PREFIX: (TestRunEvent, "run_id"), JOB_CHANNEL_PREFIX: (TestJobEvent, "job_id")}


def _run_id(channel: str) -> uuid.UUID:
    return uuid.UUID(channel.removeprefix(CHANNEL_PREFIX))


def _stored(channel: str) -> tuple[type, dict]:
    """The event model of `channel` and the filter selecting its owner's events."""
    prefix = channel[: channel.index("-") + 1]
    model, field = STORED_CHANNELS[prefix]
    return model, {field: uuid.UUID(channel.removeprefix(prefix))}


def channel_events(channel: str) -> QuerySet:
    model, owner = _stored(channel)
    return model.objects.filter(**owner)


class ChannelManager(DefaultChannelManager):
    """Stored channels; test-run channels are readable by members of the run's workspace and by admin staff.

    The job views authorise their readers before they subscribe; other channels keep the library's defaults.
    """

    # The library asks on every storage read of a stream; an answer is reused this long. The answers are
    # shared by the process's threads: under ASGI each request runs on a new thread, and so gets a new
    # instance of this class.
    ALLOWED_SECONDS = 30.0
    _allowed: dict[tuple, float] = {}
    _lock = threading.Lock()

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(tuple(STORED_CHANNELS))

    @classmethod
    def allow(cls, user, channel: str) -> None:
        """Record that `user` may read `channel` (its view found the run in the user's scope just now)."""
        now = time.monotonic()
        with cls._lock:
            if len(cls._allowed) > 1000:
                cls._allowed = {key: until for key, until in cls._allowed.items() if until > now}
            cls._allowed[(user.pk, channel)] = now + cls.ALLOWED_SECONDS

    def can_read_channel(self, user, channel: str) -> bool:
        if not channel.startswith(CHANNEL_PREFIX):
            return True
        if user is None or not user.is_active:
            return False
        if self._allowed.get((user.pk, channel), 0) > time.monotonic():
            return True
        allowed = self._read_allowed(user, channel)
        if allowed:
            self.allow(user, channel)
        return allowed

    @staticmethod
    def _read_allowed(user, channel: str) -> bool:
        try:
            workspace_id = TestRun.objects.filter(pk=_run_id(channel)).values_list("workspace_id", flat=True).first()
            if workspace_id is None:
                return False
            if Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
                return True
            return user.is_staff and user.has_perm("destinations.view_destination")
        finally:
            release_connection()


class EventStorage(StorageBase):
    """django-eventstream storage for the stored channels, in their event rows.

    A channel's events are published by one thread (a run's worker, a job's runner), and the library keeps
    one storage instance per thread, so the next number is kept here: appending is a single INSERT. The first
    event of a run that `starts_empty` names is number 1 without asking the database.
    """

    _empty: set[str] = set()
    _empty_lock = threading.Lock()

    def __init__(self):
        self._next_seq: dict[str, int] = {}

    @classmethod
    def starts_empty(cls, channel: str) -> None:
        """The run behind `channel` has just been claimed for the first time: it has no events yet."""
        with cls._empty_lock:
            cls._empty.add(channel)

    @classmethod
    def _was_empty(cls, channel: str) -> bool:
        with cls._empty_lock:
            if channel in cls._empty:
                cls._empty.discard(channel)
                return True
            return False

    def append_event(self, channel: str, event_type: str, data: str) -> Event:
        model, owner = _stored(channel)
        try:
            seq = self._next_seq.get(channel) or (1 if self._was_empty(channel) else self._current_id(channel) + 1)
            model.objects.create(**owner, seq=seq, type=event_type, data=data)
        finally:
            release_connection()
        if event_type == "done":
            self._next_seq.pop(channel, None)  # nothing follows `done`
        else:
            self._next_seq[channel] = seq + 1
        return Event(channel, event_type, data, id=seq)

    def get_events(self, channel: str, last_id: int, limit: int = 100) -> list[Event]:
        try:
            rows = channel_events(channel).filter(seq__gt=last_id).order_by("seq")[:limit]
            found = [Event(channel, row.type, row.data, id=row.seq) for row in rows]
            if not found and last_id and last_id > (current := self._current_id(channel)):
                raise EventDoesNotExist(f"No event {last_id} in {channel}", current)
            return found
        finally:
            release_connection()

    def get_current_id(self, channel: str) -> int:
        try:
            return self._current_id(channel)
        finally:
            release_connection()

    @staticmethod
    def _current_id(channel: str) -> int:
        return channel_events(channel).aggregate(seq=Max("seq"))["seq"] or 0
