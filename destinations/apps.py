from django.apps import AppConfig


class DestinationsConfig(AppConfig):
    name = "destinations"
    verbose_name = "Destinations"

    def ready(self):
        from . import checks  # noqa: F401  (Django load order: ready() registers the API-version sunset check)
        from .api import openapi  # noqa: F401  (Django load order: ready() registers drf-spectacular's bearer scheme)
