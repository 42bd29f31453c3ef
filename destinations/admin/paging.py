"""Changelists that cost the same at any table size: counts stop at a bound instead of scanning every row."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_BOUND = 10_000


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_BOUND + 1 rows (`SELECT COUNT(*) FROM (... LIMIT n)`), so a list of millions shows
    its first pages without a full count; the rows beyond stay reachable by filtering or searching.
    """

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_BOUND + 1].count()


class BoundedListMixin:
    """For a model admin over a table that grows without end (runs, audit rows, destinations of a fleet)."""

    paginator = BoundedCountPaginator
    show_full_result_count = False  # the unfiltered total would be one more full count
