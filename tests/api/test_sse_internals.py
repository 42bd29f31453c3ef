"""destinations/sse.py uses two unexported names of django-eventstream; fail loudly when they change."""

import inspect
from importlib.metadata import version

from django_eventstream import views


def test_pinned_version():
    assert version("django-eventstream") == "5.3.4"


def test_stream_is_an_async_generator_taking_request_and_listener():
    assert inspect.isasyncgenfunction(views.stream)
    assert list(inspect.signature(views.stream).parameters) == ["event_request", "listener"]


def test_listener_has_the_attributes_the_adapter_sets_and_stream_reads():
    listener = views.Listener()
    for name in ("user_id", "channels", "channel_items", "overflow", "aevent", "error"):
        assert hasattr(listener, name), name
    assert callable(listener.assign_loop) and callable(listener.wake_threadsafe)


def test_stream_still_reads_the_cursor_from_the_event_request():
    """The duplicate-event guard advances event_request.channel_last_ids; stream() must still read it."""
    source = inspect.getsource(views.stream)
    assert "get_events(event_request)" in source
    assert "event_request.channel_last_ids = last_ids" in source


def test_stream_rereads_storage_after_an_overflow():
    """Watchers set `listener.overflow` and wake the listener to make stream() poll storage."""
    source = inspect.getsource(views.stream)
    assert "overflow = listener.overflow" in source
    assert "if overflow:" in source
