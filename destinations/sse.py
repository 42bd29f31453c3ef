"""Server-Sent Events for connection tests, through django-eventstream (filled in below)."""

from django_eventstream.channelmanager import DefaultChannelManager

CHANNEL_PREFIX = "testrun-"


class TestRunChannelManager(DefaultChannelManager):
    """Only test-run channels are stored; readers are authorised by our views before they subscribe."""

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(CHANNEL_PREFIX)
