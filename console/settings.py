"""Docket's one settings module: every value comes from the environment.

Safe by default: with nothing set, DEBUG is off, HTTPS is required and the
process refuses to start without real secrets. `make run` sets DEBUG=true for
the local demo; production sets SECRET_KEY and DOCKET_ACCOUNT_HASH_KEY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from console.env import env_bool, env_choice, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "docket-development-only-secret-never-use-in-production-0123456789"  # noqa: S105 - used only when DEBUG is on


def _secret(name: str, *, min_length: int) -> str:
    value = env_str(name)
    if not value:
        if DEBUG:
            return _DEV_SECRET
        raise ImproperlyConfigured(
            f"{name} is not set. Production needs a random value of at least {min_length} characters "
            f'(python -c "import secrets; print(secrets.token_urlsafe(50))"); '
            "set DEBUG=true only for local development."
        )
    if (len(value) < min_length or value.startswith("django-insecure") or value == _DEV_SECRET) and not DEBUG:
        raise ImproperlyConfigured(f"{name} must be a random value of at least {min_length} characters.")
    return value


SECRET_KEY = _secret("SECRET_KEY", min_length=50)
# End-user ids are stored only as HMAC-SHA256(DOCKET_ACCOUNT_HASH_KEY, user id).
# Changing this key makes every known account look new: set it once.
DOCKET_ACCOUNT_HASH_KEY = _secret("DOCKET_ACCOUNT_HASH_KEY", min_length=32)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_filters",
    "ninja",  # serves Swagger UI from its own static files, not a CDN
    "django_rq",
    "console",
    "review",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.RequestBoundsMiddleware",  # body size, CORS preflight: before anything reads the body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "console.middleware.StaffLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the messages, so that a session they end can say why on the sign-in page.
    "console.middleware.StaffSessionMiddleware",
    "console.middleware.TwoFactorEnrolmentMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # A database outage answers 503 + Retry-After, not 500 (console/middleware.py).
    "console.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while a writer commits; IMMEDIATE takes the write
    # lock at BEGIN so two claimers cannot both read "open" and then both write.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, background tasks ------------------------------------------
REDIS_URL = env_str("REDIS_URL")
DOCKET_TASK_BACKEND = env_choice("DOCKET_TASK_BACKEND", "immediate", ["immediate", "rq", "celery"])
if DOCKET_TASK_BACKEND != "immediate" and not REDIS_URL:
    raise ImproperlyConfigured(f"DOCKET_TASK_BACKEND={DOCKET_TASK_BACKEND} needs REDIS_URL (redis://host:6379/0).")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "console.cache.DocketRedisCache",
            "LOCATION": REDIS_URL,
            # Fail fast: a cache outage must slow nothing down (every reader falls back to the database).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_task_backends: dict[str, dict[str, dict[str, Any]]] = {
    "immediate": {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}},
    "rq": {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
    "celery": {
        "default": {
            "BACKEND": "django_tasks_celery.CeleryBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"CELERY_APP": "console.celery.app"},
        }
    },
}
TASKS = _task_backends[DOCKET_TASK_BACKEND]
RQ_QUEUES = {"default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 600}}
CELERY_BROKER_URL = REDIS_URL or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = REDIS_URL or "redis://127.0.0.1:6379/0"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- Auth ----------------------------------------------------------------------
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["console.auth.StaffBackend"]
# The longest a session lives, counted from sign-in (console.middleware.StaffSessionMiddleware
# enforces it; the cookie's own age slides, so it is only the browser's copy).
SESSION_COOKIE_AGE = env_int("DOCKET_SESSION_SECONDS", 8 * 3600, minimum=300)
# Inactivity ends a session too; the middleware stamps activity at most once a minute,
# so a busy console does not write its session on every request.
DOCKET_SESSION_IDLE_MINUTES = env_int("DOCKET_SESSION_IDLE_MINUTES", 30, minimum=1)
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Staff accounts: two-factor sign-in, sign-in throttling ---------------------------
# Holders of the roles in console.roles.TWO_FACTOR_ROLES must enrol an authenticator
# app before any other page opens. `make run` turns it off for the demo only.
DOCKET_REQUIRE_2FA = env_bool("DOCKET_REQUIRE_2FA", True)
# Failed sign-ins (wrong password or wrong code) counted per username and per client
# address over DOCKET_LOGIN_LOCKOUT_MINUTES; reaching a limit locks that username or
# address out for as long again. Counted in the cache: share it (REDIS_URL) between
# web processes, or each process counts on its own.
DOCKET_LOGIN_FAILURES_PER_USER = env_int("DOCKET_LOGIN_FAILURES_PER_USER", 5, minimum=1)
DOCKET_LOGIN_FAILURES_PER_ADDRESS = env_int("DOCKET_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
DOCKET_LOGIN_LOCKOUT_MINUTES = env_int("DOCKET_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# The header in which a trusted proxy puts the client's address (e.g. X-Real-IP or
# X-Forwarded-For, whose last entry is used); empty: the connection's own address.
_client_header = env_str("DOCKET_CLIENT_ADDRESS_HEADER").strip()
DOCKET_CLIENT_ADDRESS_META = f"HTTP_{_client_header.upper().replace('-', '_')}" if _client_header else ""

# --- HTTPS and headers ---------------------------------------------------------
# On unless DEBUG; DOCKET_HTTPS=false is for tests and plain-HTTP local runs only.
DOCKET_HTTPS = env_bool("DOCKET_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = DOCKET_HTTPS
SESSION_COOKIE_SECURE = DOCKET_HTTPS
CSRF_COOKIE_SECURE = DOCKET_HTTPS
SECURE_HSTS_SECONDS = env_int("DOCKET_HSTS_SECONDS", 31536000 if DOCKET_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = DOCKET_HTTPS
SECURE_HSTS_PRELOAD = DOCKET_HTTPS
if env_bool("DOCKET_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- Static files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
_STATIC_MANIFEST = env_bool("DOCKET_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not _STATIC_MANIFEST
MEDIA_ROOT = Path(env_str("DOCKET_MEDIA_ROOT", str(BASE_DIR / "media")))

# --- Locale ----------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Logging: never the request body, never a raw user id --------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every handler gets the filter: API keys and Authorization values are rewritten before formatting.
    "filters": {"redact_secrets": {"()": "console.redact.RedactSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- API -------------------------------------------------------------------------------
DOCKET_MAX_BODY_BYTES = env_int("DOCKET_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DOCKET_MAX_BODY_BYTES

# --- API abuse limits (console/ratelimit.py) ---------------------------------------------
# Requests a minute per API key unless the key has its own limit (set on the integration's page).
DOCKET_API_RATE_PER_MINUTE = env_int("DOCKET_API_RATE_PER_MINUTE", 60_000, minimum=1)
# Requests a minute with a missing or wrong key from one address before it is answered 429.
DOCKET_API_AUTH_FAILURES_PER_MINUTE = env_int("DOCKET_API_AUTH_FAILURES_PER_MINUTE", 60, minimum=1)
# Behind a proxy the caller's address is the last one the proxy appended to X-Forwarded-For.
DOCKET_TRUST_X_FORWARDED_FOR = env_bool("DOCKET_BEHIND_PROXY", False)

# --- Health and metrics ------------------------------------------------------------------
# /livez and /healthz answer load balancers over plain HTTP too, and so does /metrics
# (it needs a token or an allowed network; see docs/operations.md).
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^healthz$", r"^metrics$"]
DOCKET_METRICS_TOKEN = env_str("DOCKET_METRICS_TOKEN")
if DOCKET_METRICS_TOKEN and len(DOCKET_METRICS_TOKEN) < 24:
    raise ImproperlyConfigured("DOCKET_METRICS_TOKEN must be a random value of at least 24 characters.")
DOCKET_METRICS_NETWORKS = env_networks("DOCKET_METRICS_NETWORKS")

# --- Exports and scheduled reports (console/reports/) ------------------------------
# Background exports are written here; web and worker processes must share it
# (one machine, or a shared volume) so the web process can serve what a worker wrote.
DOCKET_EXPORT_DIR = Path(env_str("DOCKET_EXPORT_DIR", str(BASE_DIR / "var" / "exports")))
DOCKET_EXPORT_KEEP_HOURS = env_int("DOCKET_EXPORT_KEEP_HOURS", 72, minimum=1)
# A report with more rows than this becomes a background export with a progress bar;
# up to it, the browser gets the file streamed straight away.
DOCKET_EXPORT_STREAM_MAX_ROWS = env_int("DOCKET_EXPORT_STREAM_MAX_ROWS", 50_000, minimum=0)
# A scheduled report's file larger than this is mailed as a link instead of an attachment.
DOCKET_EXPORT_MAIL_MAX_BYTES = env_int("DOCKET_EXPORT_MAIL_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
# How links in e-mails start, e.g. https://docket.example.com (no trailing slash).
DOCKET_BASE_URL = env_str("DOCKET_BASE_URL").rstrip("/")

# E-mail (scheduled reports): SMTP from the environment; with DEBUG, mails are printed to the console.
if DEBUG and not env_str("EMAIL_HOST"):
    MAILERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 25, minimum=1),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
                "timeout": 30,
            },
        }
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "docket@localhost")
