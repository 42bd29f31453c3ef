"""Settings, read from the environment (12-factor).

Production (DJANGO_DEBUG unset or false) refuses to start without DJANGO_SECRET_KEY and
SECRETS_ENCRYPTION_KEYS. Development generates both once and keeps them in `.local/` so the quick
start needs no setup.
"""

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from workspaces.client_address import parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_number(name: str, default: float, *, minimum: float = 0, whole: bool = True) -> float:
    """A numeric setting; anything else stops start-up with the variable's name and the expected form."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        kind = "a whole number" if whole else "a number"
        raise ImproperlyConfigured(f"{name} must be {kind} of at least {minimum:g} (got {raw!r}).")
    return value


def env_json_object(name: str, expected: str) -> dict:
    """A JSON-object setting; anything else stops start-up saying what `name` must be (`expected`)."""
    try:
        value = json.loads(os.environ.get(name) or "{}")
    except ValueError:
        raise ImproperlyConfigured(f"{expected}; it is not valid JSON.") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{expected}; got a JSON {type(value).__name__}.")
    return value


def env_base_urls(name: str) -> dict[str, str]:
    """A JSON object mapping a destination type to an http(s) base URL (a sandbox or emulator)."""
    expected = f'{name} must be a JSON object mapping a destination type to an http(s) URL, e.g. {{"hubspot": "https://sandbox.example.com"}}'
    value = env_json_object(name, expected)
    for type_name, url in value.items():
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(f"{expected}; the value for {type_name!r} is not an http(s) URL with a host.")
    return value


def _local_secret(filename: str, make) -> str:
    """Generate a development-only secret once and keep it, so restarts keep sessions and secrets readable."""
    path = LOCAL_DIR / filename
    if not path.exists():
        LOCAL_DIR.mkdir(exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DJANGO_DEBUG", default=False)
# Under pytest the test settings apply (throwaway keys, fast hashing) without any setup.
TESTING = env_bool("DJANGO_TESTING", default="pytest" in sys.modules)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
SECRETS_ENCRYPTION_KEYS = env_list("SECRETS_ENCRYPTION_KEYS")
if not SECRET_KEY or not SECRETS_ENCRYPTION_KEYS:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY and SECRETS_ENCRYPTION_KEYS must be set in production "
            "(or set DJANGO_DEBUG=true for local development)."
        )
    SECRET_KEY = SECRET_KEY or _local_secret("secret_key", get_random_secret_key)
    SECRETS_ENCRYPTION_KEYS = SECRETS_ENCRYPTION_KEYS or [
        _local_secret("encryption_key", lambda: Fernet.generate_key().decode())
    ]

# Proxies whose X-Forwarded-For is believed (addresses or CIDRs); none by default, so the peer is the client.
# `client_address` (workspaces) has the rule; rate limits, the admin lockout and the access log use it.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
try:
    parse_trusted_proxies(TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if (DEBUG or TESTING) else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Web apps on these origins (scheme://host[:port]) may call the API from a browser; none by default.
# They authenticate with the bearer token, never cookies (docs/streaming-clients.md).
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/v1/"
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "x-workspace-id", "idempotency-key", "last-event-id"]
CORS_EXPOSE_HEADERS = ["X-Test-Run-ID", "X-Test-Job-ID", "Link", "Idempotent-Replayed", "Retry-After"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_jsonform",
    "axes",
    "corsheaders",
    "workspaces",
    "destinations",
]

MIDDLEWARE = [
    "zeotap_composable.observability.observability_middleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's and API docs' static files, from this process (no separate web server needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that answers: a preflight is answered here, without a token.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "zeotap_composable.middleware.client_address_in_access_log",
    # A view that meets the database down answers 503 with Retry-After (docs/operations-hardening.md).
    "zeotap_composable.middleware.DatabaseUnavailableAs503",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last of those that act, as django-axes requires
    # A no-op that keeps the whole chain in one thread (WhiteNoise is sync-only; see the module).
    "zeotap_composable.middleware.one_thread_per_request",
]

# Admin sign-in: django-axes locks a client address out after AXES_FAILURE_LIMIT wrong passwords (429).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_number("ADMIN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_number("ADMIN_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "workspaces.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# The DEBUG error page shows no request data or config-like local variable: typed secrets live there.
DEFAULT_EXCEPTION_REPORTER_FILTER = "zeotap_composable.debug.RequestDataHiddenFilter"

ROOT_URLCONF = "zeotap_composable.urls"
ASGI_APPLICATION = "zeotap_composable.asgi.application"
WSGI_APPLICATION = "zeotap_composable.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_number("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One test database per process, so concurrent test runs on one server don't collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and not DATABASES["default"]["CONN_MAX_AGE"]:
    # A pool, not a connection per request: requests, streams and connection-test workers borrow one only
    # while they query (streams and tests give theirs back while they wait), so a small pool serves hundreds.
    # Every process has its own pool: processes x DB_POOL_MAX_SIZE must stay below max_connections (docs/operations.md).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env_number("DB_POOL_MAX_SIZE", 20, minimum=2),
        "timeout": env_number("DB_POOL_TIMEOUT_SECONDS", 30, minimum=1, whole=False),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connection tests write from worker threads; wait for the lock instead of failing.
    # WAL lets the stream readers work while workers write; NORMAL sync is durable at checkpoints.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file (not memory) so connection-test worker threads share it; one per process so runs don't collide.
    LOCAL_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(LOCAL_DIR / f"test-db-{os.getpid()}.sqlite3")}

AUTH_USER_MODEL = "workspaces.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` gathers them here for production; development serves them from the apps.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / ".local" / "static")
if DEBUG or TESTING:
    # whitenoise serves straight from the apps (WHITENOISE_USE_FINDERS); an empty root keeps it quiet.
    WHITENOISE_USE_FINDERS = True
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
else:
    # Compressed copies served by whitenoise. Not the manifest (hashed-name) storage: with it, a release
    # whose collectstatic was forgotten answers every admin page with a 500 instead of unstyled.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["workspaces.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["destinations.api.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "destinations.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "destinations.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "URL_FORMAT_OVERRIDE": None,
}
if DEBUG:
    # Development: staff logged into the admin can click through the API in the browser (CSRF still checked).
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
    REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].append("workspaces.authentication.StaffSessionAuthentication")


def env_rate(name: str, default: str) -> str | None:
    """A rate such as 20/min (s, min, hour, day); `off` disables the limit."""
    value = os.environ.get(name, default).strip().lower()
    if value in ("off", "none", ""):
        return None
    count, _, period = value.partition("/")
    if not count.isdigit() or period[:1] not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(
            f"{name} must be a rate such as 20/min (per s, min, hour or day) or off (got {value!r})."
        )
    return value


# The largest request body read (bytes); a larger one is a 413 naming this setting (destinations/api/errors.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_number("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440, minimum=1)

# Rate limits (workspaces/throttling.py): 429 with Retry-After past them.
API_RATE_LIMITS = {
    "auth_failures": env_rate("RATE_LIMIT_AUTH_FAILURES", "20/min"),
    "vendor_calls_per_token": env_rate("RATE_LIMIT_VENDOR_CALLS_PER_TOKEN", "300/min"),
    "vendor_calls_per_address": env_rate("RATE_LIMIT_VENDOR_CALLS_PER_ADDRESS", "600/min"),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Destinations API",
    "DESCRIPTION": "Register the tools a workspace's data goes to, prove each connection step by step, "
    "and discover the fields a sync can map to.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "destinations.api.openapi.typed_config_bodies",
        "destinations.api.openapi.sse_event_schemas",
        "destinations.api.openapi.servers",
    ],
    # Swagger UI from the drf-spectacular-sidecar package: /api/docs/ works without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    # JavaScript, not JSON: the plugin comes from destinations/static/destinations/api_docs.js (the docs page loads it).
    "SWAGGER_UI_SETTINGS": "{deepLinking: true, plugins: [WorkspaceHeaderFromPath]}",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TAGS": [
        {"name": "destination types", "description": "What each destination type needs and how it is tested."},
        {"name": "destinations", "description": "A workspace's destinations, their fields and history."},
        {"name": "connection tests", "description": "Connection tests streamed as Server-Sent Events."},
        {"name": "connections", "description": "Credentials shared by several destinations."},
        {"name": "members", "description": "Who belongs to the workspace, with which role (admins change it)."},
        {"name": "api tokens", "description": "The workspace's API tokens: shown once, listed, expired, revoked."},
        {
            "name": "monitoring",
            "description": "Health-check intervals, the notification URL, its signing secret and the log.",
        },
    ],
    "ENUM_NAME_OVERRIDES": {"DestinationStatusEnum": "destinations.models.DestinationStatus"},
}

# django-eventstream: every test run's events are stored, so a watcher can replay a run from its start;
# test-job progress channels too.
EVENTSTREAM_STORAGE_CLASS = "destinations.events.storage.EventStorage"
EVENTSTREAM_CHANNELMANAGER_CLASS = "destinations.events.storage.ChannelManager"

# Outbound calls made by connectors (see connectors/http.py).
# Development may reach local receivers and emulators; production reaches public addresses only.
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128" if DEBUG else "")
CONNECTOR_BASE_URLS = env_base_urls("CONNECTOR_BASE_URLS")
CONNECTION_TEST_TIMEOUT_SECONDS = env_number("CONNECTION_TEST_TIMEOUT_SECONDS", 120.0, minimum=1, whole=False)
CONNECTION_TEST_WORKERS = env_number("CONNECTION_TEST_WORKERS", 64, minimum=1)
# Test jobs (docs/operations-hardening.md): at most this many queued or running per workspace (past it, a 429),
# and this many threads per process drive the running ones; the others wait in a queue, holding no thread.
TEST_JOBS_PER_WORKSPACE = env_number("TEST_JOBS_PER_WORKSPACE", 10, minimum=1)
TEST_JOB_RUNNERS = env_number("TEST_JOB_RUNNERS", 4, minimum=1)
# The most response-body bytes a connector step (or a fields read) takes from a vendor; more fails it.
CONNECTOR_MAX_RESPONSE_BYTES = env_number("CONNECTOR_MAX_RESPONSE_BYTES", 10 * 1024 * 1024, minimum=1)
# The total time a fields read (GET …/fields) may take against the vendor.
FIELDS_TIMEOUT_SECONDS = env_number("FIELDS_TIMEOUT_SECONDS", 30.0, minimum=1, whole=False)
FIELDS_CACHE_SECONDS = env_number("FIELDS_CACHE_SECONDS", 3600)
# The API's base URL in a schema made without a request (`manage.py spectacular`); served schemas use the host asked.
API_PUBLIC_URL = os.environ.get("API_PUBLIC_URL", "http://127.0.0.1:8000")
# How long an Idempotency-Key is remembered (per workspace); `purge_test_runs` forgets older ones.
IDEMPOTENCY_KEY_HOURS = env_number("IDEMPOTENCY_KEY_HOURS", 24, minimum=1)


# Connect with OAuth (`oauth_authorize`). The deployment's app per type: {"salesforce": {"client_id": …,
# "client_secret": …}, …}; a workspace may bring its own. Callers' redirect_uri must be listed (exact URIs, or
# origins allowing any path). The callback URI registered with the vendors defaults to <this host>/oauth/callback.
def env_oauth_apps(name: str) -> dict[str, dict[str, str]]:
    """A JSON object mapping a destination type to its OAuth app's client_id and client_secret."""
    expected = f'{name} must be a JSON object like {{"salesforce": {{"client_id": "…", "client_secret": "…"}}}}'
    value = env_json_object(name, expected)
    for type_name, app in value.items():
        if not isinstance(app, dict) or not all(isinstance(app.get(k), str) for k in ("client_id", "client_secret")):
            raise ImproperlyConfigured(f"{expected}; {type_name!r} needs string client_id and client_secret.")
    return value


def env_urls(name: str) -> list[str]:
    urls = env_list(name)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(f"{name} must list http(s) URLs with a host; {url!r} is not one.")
    return urls


OAUTH_APPS = env_oauth_apps("OAUTH_APPS")
OAUTH_REDIRECT_ALLOWED = env_urls("OAUTH_REDIRECT_ALLOWED")
OAUTH_CALLBACK_URL = (env_urls("OAUTH_CALLBACK_URL") or [""])[0]
# Runtime: without REDIS_URL connection tests run in this process (embedded); with it every test is a
# Celery task run by `celery -A zeotap_composable worker`, and events reach every web process through Redis.
REDIS_URL = os.environ.get("REDIS_URL", "")
CONNECTION_TEST_RUNTIME = "distributed" if REDIS_URL else "embedded"
# A stream ends after this many seconds; the client re-attaches with Last-Event-ID and gets the rest.
SSE_MAX_STREAM_SECONDS = env_number("SSE_MAX_STREAM_SECONDS", 300, minimum=1, whole=False)
# How long a stream token (a browser's EventSource following one run, docs/streaming-clients.md) is accepted.
SSE_STREAM_TOKEN_SECONDS = env_number("SSE_STREAM_TOKEN_SECONDS", 600, minimum=1)
# A running test whose heartbeat is older than this is ended as `interrupted` by reap_interrupted_runs().
CONNECTION_TEST_HEARTBEAT_SECONDS = env_number("CONNECTION_TEST_HEARTBEAT_SECONDS", 10, minimum=0.1, whole=False)
CONNECTION_TEST_STALE_SECONDS = env_number("CONNECTION_TEST_STALE_SECONDS", 45, minimum=1, whole=False)
# A queued test no worker started within this long is dropped (and reaped as interrupted).
CONNECTION_TEST_QUEUE_SECONDS = env_number("CONNECTION_TEST_QUEUE_SECONDS", 300, minimum=1, whole=False)
CONNECTION_TEST_REAP_INTERVAL_SECONDS = env_number(
    "CONNECTION_TEST_REAP_INTERVAL_SECONDS", 10, minimum=0.1, whole=False
)

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "connection-tests")
CELERY_TASK_IGNORE_RESULT = True
# No result backend is used; share its (disabled) instance across threads instead of building one per
# request thread (under ASGI each request has its own).
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A broker that is down must fail the submit at once (the API answers 503), not hang the request.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = env_number("CELERY_BROKER_CONNECTION_TIMEOUT", 2, minimum=0.1, whole=False)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": CELERY_BROKER_CONNECTION_TIMEOUT * 2,
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A test is IO-bound (HTTP calls to vendors): threads, not processes; one message at a time per thread.
CELERY_WORKER_POOL = os.environ.get("CELERY_WORKER_POOL", "threads")
CELERY_WORKER_CONCURRENCY = env_number("CELERY_WORKER_CONCURRENCY", 32, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reap-interrupted-test-runs": {
        "task": "destinations.tasks.reap_interrupted_runs_task",
        "schedule": CONNECTION_TEST_REAP_INTERVAL_SECONDS,
    },
}

if REDIS_URL:
    from redis.connection import parse_url as _parse_redis_url

    # django-eventstream publishes every event on Redis pub/sub; each web process relays to its streams.
    EVENTSTREAM_REDIS = _parse_redis_url(REDIS_URL)
    # django-redis, not Django's own RedisCache: under ASGI Django builds a cache object per request, and
    # Django's backend then made a redis-py pool per request and a client per operation; django-redis keeps
    # one pool per process and one client per cache object.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Redis down must fail fast (a 503), not hang requests.
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": CELERY_BROKER_CONNECTION_TIMEOUT,
                "SOCKET_TIMEOUT": CELERY_BROKER_CONNECTION_TIMEOUT * 2,
            },
        }
    }

# Scheduled health checks and status-change notifications (`health_checks_plan`, `status_change_enqueue`).
# An interval of 0 turns the checks off; workspaces and destinations may override it in the admin.
HEALTH_CHECK_INTERVAL_MINUTES = env_number("HEALTH_CHECK_INTERVAL_MINUTES", 1440)
HEALTH_CHECK_JITTER_SECONDS = env_number("HEALTH_CHECK_JITTER_SECONDS", 300, whole=False)
HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE = env_number("HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE", 4)
# A tick starts at most this many due checks, and stops starting them after this many seconds; the rest wait.
HEALTH_CHECK_START_BATCH = env_number("HEALTH_CHECK_START_BATCH", 200, minimum=1)
HEALTH_CHECK_START_SECONDS = env_number("HEALTH_CHECK_START_SECONDS", 3, whole=False)
SCHEDULER_TICK_SECONDS = env_number("SCHEDULER_TICK_SECONDS", 15, minimum=0.1, whole=False)
# The embedded runtime runs the scheduler in one web process per database: the one holding the scheduler lease,
# a row it renews every tick; when it stops, another process takes over within SCHEDULER_LEASE_SECONDS.
EMBEDDED_SCHEDULER = env_bool("EMBEDDED_SCHEDULER", default=not TESTING)  # tests start their own
SCHEDULER_LEASE_SECONDS = env_number(
    "SCHEDULER_LEASE_SECONDS", max(30.0, 3 * SCHEDULER_TICK_SECONDS), minimum=1, whole=False
)
if SCHEDULER_LEASE_SECONDS <= SCHEDULER_TICK_SECONDS:
    raise ImproperlyConfigured(
        f"SCHEDULER_LEASE_SECONDS ({SCHEDULER_LEASE_SECONDS}) must be longer than SCHEDULER_TICK_SECONDS "
        f"({SCHEDULER_TICK_SECONDS}): the scheduler renews its lease once a tick."
    )
# Seconds between delivery attempts of a notification (the Standard Webhooks suggested schedule).
try:
    NOTIFICATION_RETRY_SECONDS = [
        float(item) for item in env_list("NOTIFICATION_RETRY_SECONDS", "5,300,1800,7200,18000,36000")
    ]
except ValueError:
    raise ImproperlyConfigured(
        "NOTIFICATION_RETRY_SECONDS must be comma-separated seconds, e.g. 5,300,1800 "
        f"(got {os.environ.get('NOTIFICATION_RETRY_SECONDS')!r})."
    ) from None
NOTIFICATION_TIMEOUT_SECONDS = env_number("NOTIFICATION_TIMEOUT_SECONDS", 10, minimum=0.1, whole=False)
# A scheduled check warns (a signed `destination.expiring` notification, once per credential) this many days
# before credentials expire or a pinned API version is retired.
EXPIRY_WARNING_DAYS = env_number("EXPIRY_WARNING_DAYS", 14)
CELERY_BEAT_SCHEDULE["scheduler-tick"] = {
    "task": "destinations.tasks.scheduler_tick",
    "schedule": SCHEDULER_TICK_SECONDS,
    "options": {"expires": SCHEDULER_TICK_SECONDS},
}

# Operations: /metrics answers only with `Authorization: Bearer $METRICS_TOKEN` (404 while it is unset).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# LOG_FORMAT=json: one JSON object per line, with request_id and test_run_id.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower() or "plain"
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json (got {LOG_FORMAT!r}).")


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(test_run_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"context": {"()": "zeotap_composable.observability.LogContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_eventstream": {"level": "WARNING"},
        # "celery@host ready." says a worker consumes (tests and benchmarks wait for it)
        "celery.apps.worker": {"level": "INFO"},
        # It warns on every address it refuses, allow-listed ones included; connectors/http.py logs refusals.
        "requests_hardened": {"level": "ERROR"},
    },
}

# A Content-Security-Policy for every page (the admin and the API docs load nothing from elsewhere).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],  # inline scripts carry nonce="{{ request.csp_nonce }}"
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_HSTS_SECONDS = env_number("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY") else None
