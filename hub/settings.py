"""The one settings module. Everything that differs between machines comes from the
environment through ``hub.env``; see the configuration table in README.md."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from hub.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# Evidence hubs phone nobody: onnxruntime would otherwise write a telemetry session id to
# $TMPDIR/.ses on import and carries telemetry upload code. Set before it is imported.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

DEBUG = env_bool("HUB_DEBUG", False)
DATA_DIR = Path(env_str("HUB_DATA_DIR", str(BASE_DIR / "var"))).resolve()
SECRET_KEY = env_str("SECRET_KEY", "insecure-dev-key-change-me-" + "x" * 40)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# The demo (make run) may switch two-factor off; nothing else may.
HUB_DEMO = env_bool("HUB_DEMO", False)
HUB_REQUIRE_2FA = env_bool("HUB_REQUIRE_2FA", True)
if not HUB_REQUIRE_2FA and not HUB_DEMO:
    raise ImproperlyConfigured(
        "HUB_REQUIRE_2FA=false is allowed only together with HUB_DEMO=true (the local demo)."
    )
HUB_HTTPS = env_bool("HUB_HTTPS", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "hub",
    "triage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "hub.middleware.SessionLimitsMiddleware",
    "hub.middleware.ActiveAgencyMiddleware",
    "hub.db_scope.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "hub.middleware.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hub.root_urls"
WSGI_APPLICATION = "hub.wsgi.application"
AUTH_USER_MODEL = "hub.User"

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
                "csp.context_processors.nonce",
                "hub.context_processors.hub",
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'hub.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout covers the rest.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # Take the write lock when a transaction starts, so two worker processes
            # queue for it instead of failing with "database is locked" on upgrade.
            "transaction_mode": "IMMEDIATE",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# PostgreSQL: the role web and worker processes switch to (SET ROLE) on every connection,
# so that row-level security binds them. Empty: they stay the connecting role.
HUB_DB_APP_ROLE = env_str("HUB_DB_APP_ROLE", "")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(DATA_DIR / "cache"),
    }
}

# Passwords: Argon2 first; the others only verify legacy hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "hub:login"
LOGIN_URL_PATH = "/login/"
LOGIN_REDIRECT_URL = "hub:home"

# Sessions: 30 minutes idle (the cookie is renewed on every request), 12 hours at most
# (enforced by hub.middleware.SessionLimitsMiddleware).
SESSION_COOKIE_AGE = env_int("HUB_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
HUB_SESSION_MAX_SECONDS = env_int("HUB_SESSION_MAX_SECONDS", 12 * 60 * 60, minimum=60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Lockout: 5 failures lock the username until an admin unlocks it; a per-IP throttle
# (hub.throttle) slows down spraying across usernames.
AXES_FAILURE_LIMIT = 5
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_COOLOFF_TIME = None
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "hub.views.auth.lockout_response"
# Only failures within HUB_FAILURE_WINDOW_SECONDS count (hub.throttle.WindowedAxesHandler
# reads axes' per-failure log for that) and every failure and lock is audited.
AXES_HANDLER = "hub.throttle.WindowedAxesHandler"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
# axes.W006 asks for ip_address in the lockout parameters; that would lock a whole office
# behind one NAT after five typos. hub.throttle applies a separate, larger per-IP limit.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_ENABLE_ADMIN = False
HUB_FAILURE_WINDOW_SECONDS = env_int("HUB_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=60)
HUB_IP_LOGIN_LIMIT = env_int("HUB_IP_LOGIN_LIMIT", 30, minimum=1)
# Password checks (Argon2, ~100 MiB of memory each) run at once per web process; more
# wait a few seconds, then get "busy, try again" (hub/throttle.py).
HUB_PASSWORD_CHECKS_AT_ONCE = env_int("HUB_PASSWORD_CHECKS_AT_ONCE", 2, minimum=1)

# Web hardening. HTTPS-only settings are on when HUB_HTTPS=true (production).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = HUB_HTTPS
CSRF_COOKIE_SECURE = HUB_HTTPS
SECURE_SSL_REDIRECT = HUB_HTTPS and env_bool("HUB_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if HUB_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HUB_HTTPS
SECURE_HSTS_PRELOAD = HUB_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HUB_HTTPS else None
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Evidence never lives under a public URL: it is served only by authorised views.
EVIDENCE_ROOT = Path(env_str("HUB_EVIDENCE_ROOT", str(DATA_DIR / "evidence"))).resolve()
UPLOAD_TEMP_ROOT = Path(env_str("HUB_UPLOAD_TEMP_ROOT", str(DATA_DIR / "uploads"))).resolve()
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TEMP_ROOT)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # larger uploads stream to disk
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("HUB_UPLOAD_MAX_FILES", 5000, minimum=1)
FILE_UPLOAD_PERMISSIONS = 0o440

# Intake limits (archives and images); agencies may tighten these in their settings.
HUB_MAX_UNCOMPRESSED_BYTES = env_int("HUB_MAX_UNCOMPRESSED_BYTES", 20 * 1024**3, minimum=1)
HUB_MAX_ARCHIVE_ENTRIES = env_int("HUB_MAX_ARCHIVE_ENTRIES", 100_000, minimum=1)
HUB_MAX_COMPRESSION_RATIO = env_int("HUB_MAX_COMPRESSION_RATIO", 200, minimum=2)
HUB_MAX_ARCHIVE_DEPTH = env_int("HUB_MAX_ARCHIVE_DEPTH", 3, minimum=0)
HUB_MAX_IMAGE_PIXELS = env_int("HUB_MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
HUB_CHUNK_SIZE = env_int("HUB_CHUNK_SIZE", 25, minimum=1)
HUB_STUCK_AFTER_SECONDS = env_int("HUB_STUCK_AFTER_SECONDS", 900, minimum=10)
HUB_MAX_ATTEMPTS = env_int("HUB_MAX_ATTEMPTS", 3, minimum=1)

# Classifier
HUB_MODELS_DIR = Path(env_str("HUB_MODELS_DIR", str(BASE_DIR / "models"))).resolve()
# Models registered by operators and admins (uploaded .onnx files); on shared storage in
# production, like the evidence, so every inference worker sees them.
HUB_REGISTERED_MODELS_DIR = Path(
    env_str("HUB_REGISTERED_MODELS_DIR", str(EVIDENCE_ROOT.parent / "models"))
).resolve()
HUB_INFERENCE_THREADS = env_int("HUB_INFERENCE_THREADS", 1, minimum=1)
HUB_INFERENCE_BATCH = env_int("HUB_INFERENCE_BATCH", 16, minimum=1)

# Celery: at-least-once delivery. A task is acknowledged only after it finished, a task
# whose worker died is redelivered, each worker takes one message at a time, and the
# broker's visibility timeout is longer than the hard time limit so a long task is not
# handed to a second worker while the first still runs it.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_TASK_TIME_LIMIT, minimum=CELERY_TASK_TIME_LIMIT + 1
)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
_BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(_BROKER_DIR / "queue"),
            "data_folder_out": str(_BROKER_DIR / "queue"),
            "processed_folder": str(_BROKER_DIR / "processed"),
            "store_processed": False,
            # Without this kombu writes its exchange tables to ./control.
            "control_folder": str(_BROKER_DIR / "control"),
        }
    )
    # kombu's filesystem transport lists these folders and fails if they are missing.
    for _d in (_BROKER_DIR / "queue", _BROKER_DIR / "processed", _BROKER_DIR / "control"):
        _d.mkdir(parents=True, exist_ok=True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Triage Hub API",
    "VERSION": "1.0.0",
    "ENUM_NAME_OVERRIDES": {
        "BatchStatusEnum": "triage.models.evidence.EvidenceBatch.Status",
        "ItemStatusEnum": "triage.models.evidence.ItemStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

for _d in (DATA_DIR, EVIDENCE_ROOT, UPLOAD_TEMP_ROOT, STATIC_ROOT):
    _d.mkdir(parents=True, exist_ok=True)
