"""The benchmarks of `make bench`: a Django app installed only by `tests.bench.settings`."""
