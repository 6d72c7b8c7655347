# Two commands do all set-up on a fresh machine:
#   make serve   - create .venv, build the example models into models/, serve them on port 8501 with the
#                  web page at http://localhost:8501/
#   make test    - create .venv, build the example models, run ruff and the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODELS := models
PORT ?= 8501
EXTRAS := tensorflow,tflite,examples,convert,pytorch,beam,remote,stream,spark,ui,dev

.PHONY: serve demo test test-fast lint examples tfjs bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

$(MODELS)/.built: $(BIN)/.installed $(wildcard src/modelserve/examples/*.py)
	$(BIN)/modelserve examples build --out $(MODELS)
	touch $@

examples: $(MODELS)/.built

# TF.js: tensorflowjs (--no-deps) into the venv and tfjs + its wasm backend from npm into .cache/tfjs, for
# `modelserve convert --to tfjs` (verified in Node.js) and the web page's "run on this device".
TFJS := .cache/tfjs/.installed
$(TFJS): $(BIN)/.installed scripts/install_tfjs.sh
	bash scripts/install_tfjs.sh
	touch $@

tfjs: $(TFJS)

# The main job: TF Serving's REST API on port 8501 over every example model, with the web page at
# http://localhost:8501/ (Ctrl-C stops it cleanly).
serve: $(MODELS)/.built
	$(BIN)/modelserve serve --model_repository=$(MODELS) --rest_api_port=$(PORT) --allow_code_models --ui

# In-memory predictions of the digits network through every runtime.
demo: $(MODELS)/.built
	$(BIN)/modelserve examples demo $(MODELS)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests examples bench deploy
	$(BIN)/ruff format --check src tests examples bench deploy
	$(BIN)/lint-imports

test: $(MODELS)/.built $(TFJS) lint
	MODELSERVE_EXAMPLES_DIR=$(MODELS) $(BIN)/python -m pytest -q

# The fast unit loop: no example models, servers or TensorFlow (a test that imports it fails the run).
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not integration"

# Benchmarks (not tests): our server's four doors against the in-process ceiling and peer servers (MLServer,
# KServe, LitServe, Ray Serve, raw HTTP floors) in one run; peers get their own venvs under bench/.work.
# `make bench BENCH_ARGS=--quick` is a ~6 min smoke run; the default takes ~35 min. Needs wrk and h2load.
bench: $(MODELS)/.built
	bash bench/setup_peers.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(MODELS) .cache/tfjs
