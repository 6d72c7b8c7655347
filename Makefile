# Two commands do all set-up on a fresh machine:
#   make serve   - create .venv, build the example models into models/, run the main job
#   make test    - create .venv, build the example models, run ruff and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODELS := models
EXTRAS := tensorflow,tflite,examples,dev

.PHONY: serve test lint examples clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

$(MODELS)/.built: $(BIN)/.installed $(wildcard src/modelserve/examples/*.py)
	$(BIN)/modelserve examples build --out $(MODELS)
	touch $@

examples: $(MODELS)/.built

# Until the online server lands this is the in-memory job: every digits runtime predicts the held-out set.
serve: $(MODELS)/.built
	$(BIN)/modelserve examples demo $(MODELS)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: $(MODELS)/.built lint
	MODELSERVE_EXAMPLES_DIR=$(MODELS) $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(MODELS)
