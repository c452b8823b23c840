# Two commands do all the set-up: `make run` serves the shop, `make test` runs the whole suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install install-test dev-env lock run test test-sqlite lint format migrations-check machine ci clean install-bench bench lighthouse drills

install:
	@scripts/install.sh run

install-test:
	@scripts/install.sh test

## The checkout's own secret key in .env on first run, and no DEBUG server beyond loopback (issue #21).
dev-env:
	@PYTHON=$(PYTHON) scripts/dev-env.sh '$(HOST)'

run: dev-env install
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py load_demo_catalog
	$(PYTHON) manage.py create_local_staff --site-url http://$(HOST):$(PORT)
	$(PYTHON) manage.py mail_requeue
	@# The e-mail worker (prints each e-mail: console backend) runs beside the server and stops with it.
	$(PYTHON) manage.py db_worker --no-reload --queue-name default & worker=$$!; \
		trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
		$(PYTHON) manage.py runserver $(HOST):$(PORT)

## The hashed lock files from requirements*.txt (uv pip compile, a few seconds): requirements.lock (runtime,
## what release.sh and `make install` install with --require-hashes) and requirements-dev.lock (tests, tools),
## the latter constrained to the former. Kept pins stay as they are; a new or changed pin in requirements*.txt
## is resolved; `make lock UV_ARGS=--upgrade` moves every transitive pin. UV_OFFLINE=1 works from uv's cache.
UV ?= $(VENV)/bin/uv
UV_ARGS ?=
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(UV_ARGS)
lock:
	@test -x $(UV) || { echo "make lock: $(UV) is missing (uv, pinned in requirements-dev.txt: $(VENV)/bin/pip install uv==0.13.8)"; exit 1; }
	$(UV_COMPILE) requirements.txt -o requirements.lock
	$(UV_COMPILE) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

## Lint, migrations check and the whole pytest suite on a throwaway Postgres 15, then the SQLite lane.
test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/with-postgres.sh sh -c '$(PYTHON) manage.py makemigrations --check --dry-run --settings=jewelry_site.settings.test && $(PYTHON) -m pytest $(PYTEST_ARGS)'
	$(MAKE) --no-print-directory test-sqlite

## The SQLite lane (tests_sqlite/): `make run`'s own defaults (SQLite, local media, demo catalogue), about 30 s.
test-sqlite: install-test
	env -u DJANGO_DATABASE_URL -u DJANGO_AWS_STORAGE_BUCKET_NAME $(PYTHON) -m pytest tests_sqlite \
		--ds=tests_sqlite.settings -p no:cacheprovider -o addopts="-ra --strict-markers"

## The money-and-stock state machine (tests/lifecycle/) at length: 500 random sequences of 30 steps, shrunk
## on failure. MACHINE_EXAMPLES sets how many.
machine: install-test
	scripts/with-postgres.sh env HYPOTHESIS_PROFILE=long $(PYTHON) -m pytest tests/lifecycle/test_money_stock_machine.py $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install-test
	scripts/with-postgres.sh $(PYTHON) manage.py makemigrations --check --dry-run --settings=jewelry_site.settings.test

ci: test

## Benchmark, browser audit and failure drills (issue #7, bench/): loopback only, bounded in time.
## BENCH_SECONDS (per page, 5), BENCH_PRODUCTS (10000); DRILL_SOAK_SECONDS (300) shortens the soak.
install-bench:
	@scripts/install.sh bench

bench: install-bench
	scripts/with-postgres.sh $(PYTHON) -m bench.run
	scripts/with-postgres.sh $(PYTHON) -m bench.lighthouse

lighthouse: install-bench
	scripts/with-postgres.sh $(PYTHON) -m bench.lighthouse

drills: install-bench
	scripts/with-postgres.sh $(PYTHON) -m bench.drills $(DRILLS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
