"""Server-Sent Events of test runs and test jobs, over django-eventstream: storage, the Redis relay, streams."""
