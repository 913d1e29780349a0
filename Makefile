# The verbs of the project. `make run` and `make test` are the two README commands.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate seed lint format check bench reliability clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Translations: locale/*/LC_MESSAGES/*.po compiled to .mo in pure Python (polib, a dependency),
# so neither a laptop nor an image needs the gettext system package.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
locale/%.mo: locale/%.po | $(STAMP)
	$(BIN)/python -m cpo_portal.i18n $<

install: $(STAMP) $(MO_FILES)

# The laptop set-up's settings, written once (an existing .env is never overwritten), so the
# README's other commands (`.venv/bin/python manage.py …`) run in the same development profile.
.env:
	printf '# Written by make run for this laptop; see .env.example.\nCPO_PROFILE=development\nDEBUG=true\n' > .env

# Web + Celery worker + Celery Beat on SQLite and a file-system broker, with demo data.
run: export CPO_PROFILE ?= development
run: export DEBUG ?= true
run: export PATH := $(abspath $(BIN)):$(PATH)
run: install | .env
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py ensure_demo_drivers
	$(BIN)/python manage.py ensure_demo_api_key
	$(BIN)/honcho start -f Procfile

# The whole suite; DATABASE_URL/CELERY_BROKER_URL pick PostgreSQL/Redis (CI does).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

migrate: export CPO_PROFILE ?= development
migrate: install
	$(BIN)/python manage.py migrate --no-input

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: export CPO_PROFILE ?= development
check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# Pricing rate on one core; bulk ingest into the configured database (PostgreSQL in CI) through
# the service and through the API (gunicorn, 2 workers); a monthly billing run over Celery
# workers in a scratch database next to it (PostgreSQL + broker); PDF rendering (one page,
# 1,000 sessions with breakdown, PDFs/s with two workers); e-invoice XML generation and
# validation per invoice beside the PDF render; admin lists and the API's invoice list over
# 1,000,000 documents; archiving and verifying 100,000 archive entries (verify under 60 s);
# card receipts available within 5 s of the capture (p50/p95 through a real worker); a camt.053
# of 100,000 credits imported and matched (under 60 s); the notifications outbox drained by two
# workers; one XSD-validated SEPA pain.008 for 100,000 due invoices (under 30 s).
# The benchmarks live in tests/bench/, an app only its own settings install: the product's
# `manage.py help` lists none of them.
BENCH_SESSIONS ?= 100000
BENCH_BILLING_CUSTOMERS ?= 100000
BENCH_BILLING_SESSIONS ?= 1000000
# The billing run at growing months, each in a fresh database: time per session stays flat.
BENCH_BILLING_SCALING ?= 250000,500000,1000000
BENCH_ADMIN_ARGS ?=
BENCH_ARCHIVE_ENTRIES ?= 100000
BENCH_RECEIPTS ?= 200
BENCH_STATEMENT_CREDITS ?= 100000
# The outbox drains 360-770 messages/s (docs/notifications.md): the 100,000 messages the
# target names take about 4.6 min on the shared machine (BENCH_OUTBOX_MESSAGES=10000 for a
# quick look).
BENCH_OUTBOX_MESSAGES ?= 100000
bench: export CPO_PROFILE ?= development
bench: export DJANGO_SETTINGS_MODULE = tests.bench.settings
bench: export BENCH_RESULTS = var/bench/results.jsonl
bench: install
	rm -f $(BENCH_RESULTS)
	$(BIN)/python manage.py migrate --no-input -v0
	$(BIN)/python manage.py bench_pricing
	$(BIN)/python manage.py bench_matching
	$(BIN)/python manage.py bench_ingest --sessions $(BENCH_SESSIONS)
	$(BIN)/python manage.py bench_ingest --api --sessions $(BENCH_SESSIONS)
	$(BIN)/python manage.py bench_ingest --api --webhook --sessions $(BENCH_SESSIONS)
	$(BIN)/python manage.py bench_billing --customers $(BENCH_BILLING_CUSTOMERS) --sessions $(BENCH_BILLING_SESSIONS) --scaling $(BENCH_BILLING_SCALING)
	$(BIN)/python manage.py bench_pdf
	$(BIN)/python manage.py bench_einvoice
	$(BIN)/python manage.py bench_admin $(BENCH_ADMIN_ARGS)
	$(BIN)/python manage.py bench_archive --entries $(BENCH_ARCHIVE_ENTRIES)
	$(BIN)/python manage.py bench_receipts --receipts $(BENCH_RECEIPTS)
	$(BIN)/python manage.py bench_statements --credits $(BENCH_STATEMENT_CREDITS)
	$(BIN)/python manage.py bench_outbox --messages $(BENCH_OUTBOX_MESSAGES)
	$(BIN)/python manage.py bench_collections
	$(BIN)/python manage.py bench_summary $(BENCH_RESULTS)

# The published reliability figures (docs/reliability.md): concurrent numbering, killed
# billing runs, tasks run twice, one Idempotency-Key, schemathesis, the authorization matrix,
# bad input, brute force. PostgreSQL and Redis only; a scratch database is created and dropped.
reliability: export CPO_PROFILE ?= development
reliability: install
	@if [ -z "$$DATABASE_URL" ] || [ -z "$$CELERY_BROKER_URL" ]; then \
	  echo "make reliability needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis), e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/cpo CELERY_BROKER_URL=redis://127.0.0.1:6379/0 make reliability" >&2; \
	  exit 2; \
	fi
	$(BIN)/python -m tests.reliability $(FIGURES)

clean:
	rm -rf var/broker var/test
