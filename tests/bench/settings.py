"""The project settings plus the benchmark app: `make bench` runs the bench_* commands with
``DJANGO_SETTINGS_MODULE=tests.bench.settings``; the product's own settings never list them."""

from cpo_portal.settings import *  # noqa: F403
from cpo_portal.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.bench"]
