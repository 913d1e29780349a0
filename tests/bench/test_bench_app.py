"""The benchmarks stay out of the product: only the bench settings (and the tests') install them."""

from pathlib import Path

from django.apps import apps
from django.core.management import get_commands

import cpo_portal.settings as product_settings


def test_the_product_settings_install_no_benchmark():
    assert "tests.bench" not in product_settings.INSTALLED_APPS
    product_apps = [a for a in apps.get_app_configs() if a.name in product_settings.INSTALLED_APPS]
    for app in product_apps:
        commands = Path(app.path, "management", "commands")
        if commands.is_dir():
            assert not [p.name for p in commands.glob("bench_*.py")], app.name
            assert not (commands / "pdf_samples.py").exists(), app.name


def test_the_benchmark_commands_come_from_the_bench_app():
    commands = get_commands()
    for name in (
        "bench_pricing",
        "bench_ingest",
        "bench_billing",
        "bench_pdf",
        "bench_einvoice",
        "bench_admin",
    ):
        assert commands[name] == "tests.bench"
    assert commands["pdf_samples"] == "tests.bench"
