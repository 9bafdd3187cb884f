# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint format bench migrate demo clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

migrate: setup
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

## Serve the back-office, the API and the websocket on http://$(HOST):$(PORT) with a Celery
## worker beside it, on SQLite with no other server to install. Ctrl-C stops everything.
run: demo
	$(BIN)/python manage.py run_embedded --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## The whole suite. With DATABASE_URL and REDIS_URL set (as .ci/run does) it runs on
## PostgreSQL and Redis and nothing that needs them is skipped.
test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=omo_site.settings.test
	$(BIN)/pytest $(PYTEST_ARGS)

## Benchmarks measure the production set-up: PostgreSQL and Redis on this machine unless
## DATABASE_URL / REDIS_URL say otherwise (each benchmark makes and drops its own database).
## stock_read drives HTTP load with wrk (Debian's package), installed here when missing.
bench: setup
	@command -v wrk >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
		|| echo "wrk is missing (apt-get install wrk): the stock_read benchmark will report an error"
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/12} \
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
