from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark commands (bench_*, pdf_samples); no models, never in the product settings."""

    name = "tests.bench"
    label = "bench"
