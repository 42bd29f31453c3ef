"""The floor under every figure of sse_bench: Django served by uvicorn with nothing of ours in it.

No middleware, no DRF, no app of ours: `/plain` answers JSON, `/query` runs one ORM query on the bench's
database first (as a token lookup would), with the same database settings as the service (a pool on
PostgreSQL). What a request of the service costs above these is ours to cut; these are not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.topology import Web

if not settings.configured and os.environ.get("BARE_DJANGO") == "serve":
    database = dj_database_url.parse(os.environ["DATABASE_URL"])
    if database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 20}
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bare",
        ALLOWED_HOSTS=["127.0.0.1"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=["django.contrib.contenttypes"],
        DATABASES={"default": database},
        USE_TZ=True,
    )
    import django

    django.setup()

    from django.contrib.contenttypes.models import ContentType
    from django.core.asgi import get_asgi_application
    from django.http import JsonResponse
    from django.urls import path

    def plain(request):
        return JsonResponse({"ok": True})

    def query(request):
        return JsonResponse({"found": ContentType.objects.filter(pk=1).first() is not None})

    urlpatterns = [path("plain", plain), path("query", query)]
    application = get_asgi_application()


class BareDjango(Web):
    """This module served by uvicorn, as Web serves the service."""

    def __init__(self, env: dict):
        super().__init__({**env, "BARE_DJANGO": "serve"})
        self.command[self.command.index("zeotap_composable.asgi:application")] = "bench.bare_django:application"

    def ready(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.url}/plain", timeout=1).status_code == 200
        except requests.RequestException:
            return False
