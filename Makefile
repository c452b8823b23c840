# Two commands do all the set-up: `make run` serves the shop, `make test` runs the whole suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install install-test run test lint format migrations-check ci clean

install:
	@scripts/install.sh run

install-test:
	@scripts/install.sh test

run: install
	$(PYTHON) manage.py migrate --noinput
	$(PYTHON) manage.py load_demo_catalog
	$(PYTHON) manage.py create_local_staff
	$(PYTHON) manage.py runserver $(HOST):$(PORT)

## Lint, migrations check and the whole pytest suite on a throwaway Postgres 15.
test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	scripts/with-postgres.sh sh -c '$(PYTHON) manage.py makemigrations --check --dry-run --settings=jewelry_site.settings.test && $(PYTHON) -m pytest $(PYTEST_ARGS)'

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: install-test
	scripts/with-postgres.sh $(PYTHON) manage.py makemigrations --check --dry-run --settings=jewelry_site.settings.test

ci: test

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
