"""The Celery app of the distributed runtime (`celery -A zeotap_composable worker`).

Configuration comes from Django settings prefixed CELERY_; tasks are found in each app's tasks.py.
Without REDIS_URL the embedded runtime runs connection tests in-process and no worker is needed.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeotap_composable.settings")

app = Celery("zeotap_composable")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
