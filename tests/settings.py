"""Test settings: the project settings in the development profile unless the caller says else.

``DATABASE_URL`` and ``CELERY_BROKER_URL`` still decide the database and broker, so CI runs the
same suite on PostgreSQL and Redis.
"""

import os

os.environ.setdefault("CPO_PROFILE", "development")
os.environ.setdefault("CPO_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))

from cpo_portal.settings import *  # noqa: F403
from cpo_portal.settings import INSTALLED_APPS

# The benchmarks (tests/bench) are tested too; only their own settings and these list them.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.bench"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
