# Returnbridge. `make run` and `make test` work on a fresh clone with only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FLASK := $(PY) -m flask --app wsgi

.PHONY: install run web worker migrate test lint format demo bench catalogs i18n-extract i18n-update i18n-compile clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) catalogs

## Notices in the buyer's language (locales/, policy_fx_l10n.md §6.1). .mo files are build output, never committed.
# Messages are marked with N_ / N_plural in adapters/notifiers/; catalogs are named zh_Hans, zh_Hant, pt_BR, ...
I18N_KEYWORDS := --no-default-keywords -k N_ -k N_plural:1,2

i18n-extract: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg $(I18N_KEYWORDS) --no-location --sort-output \
		--project=Returnbridge --copyright-holder=Returnbridge -o locales/messages.pot .

# Merge new messages into every catalog; new ones arrive untranslated and fail tests/test_notice_catalogs.py.
i18n-update: i18n-extract
	$(VENV)/bin/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching

i18n-compile: $(STAMP)
	$(VENV)/bin/pybabel -q compile -d locales -D messages

catalogs: i18n-compile

## Embedded default: HTTP + relay + consumers in one process, SQLite under var/, in-process broker.
run: install
	$(FLASK) serve

## Production halves, against RB_BROKER_URL (RabbitMQ) and RB_DATABASE_URL.
# A database that does not answer yet is said, not fatal: gunicorn starts and answers 503 until it does.
web: install
	$(FLASK) migrate
	$(VENV)/bin/gunicorn -c config/gunicorn.conf.py 'wsgi:create_app(migrate=False)'

## Bring the schema up to date (make run, make web and make worker also do it as they start).
migrate: install
	$(FLASK) migrate

# The worker's metrics join the web's /metrics through the same multiprocess directory.
worker: install
	mkdir -p $${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}
	PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$(CURDIR)/var/prometheus} $(FLASK) worker

test: install
	$(PY) -m pytest

# ruff, the import contract (pyproject.toml [tool.importlinter]) and the type checker (pyproject.toml [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Sign and post the contract's examples to a running `make run`, then show the case.
demo: $(STAMP)
	$(PY) scripts/demo.py

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
	find . -name '*.mo' -delete
