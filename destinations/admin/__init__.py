"""The Django admin, one module per ModelAdmin or page group. Importing these modules registers their admins."""

from . import connections, consumers, destinations, history, jobs, monitoring  # noqa: F401  (they register)
