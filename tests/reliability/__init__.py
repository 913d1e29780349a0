"""The published reliability figures (docs/reliability.md), run by `python -m tests.reliability`.

Not collected by the normal suite: the modules here are not named test_*.py, and the runner
hands them to pytest (or runs them as scripts) against a scratch PostgreSQL database.
"""
