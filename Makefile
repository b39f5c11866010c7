# Everything from nothing: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export CUDA_VISIBLE_DEVICES ?=

.PHONY: install demo test test-keras3 test-legacy bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[legacy,litert,data,test]'

demo: install
	$(BIN)/keras-wht demo

# Keras 3 first, then the same layers under tf_keras (TF_USE_LEGACY_KERAS=1).
test: install
	$(MAKE) test-keras3 test-legacy

test-keras3:
	$(BIN)/python -m pytest -n 2 -q

test-legacy:
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -n 2 -q -m "not slow" \
		tests/layers tests/models/test_builders.py tests/legacy tests/test_keras_flavour.py

bench: install
	$(BIN)/python benchmarks/fwht_formulations.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
