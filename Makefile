# Everything from nothing: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export CUDA_VISIBLE_DEVICES ?=

OLD_VENV ?= .venv-tflite-runtime
OLD_BIN  := $(OLD_VENV)/bin

.PHONY: install demo test test-keras3 test-legacy test-tflite-runtime bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[legacy,litert,data,test]'

demo: install
	$(BIN)/keras-wht demo

# Keras 3 first, then the same layers under tf_keras (TF_USE_LEGACY_KERAS=1).
test: install
	$(MAKE) test-keras3 test-legacy test-tflite-runtime

test-keras3:
	KERAS_WHT_EXPECT_RUNTIMES=ai_edge_litert,tensorflow $(BIN)/python -m pytest -n 2 -q

test-legacy:
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -n 2 -q -m "not slow" \
		tests/layers tests/models/test_builders.py tests/legacy tests/test_keras_flavour.py

# tflite-runtime 2.14 needs numpy < 2, so it gets an environment of its own.
$(OLD_BIN)/python:
	$(PYTHON) -m venv $(OLD_VENV)
	$(OLD_BIN)/pip install --quiet --upgrade pip
	$(OLD_BIN)/pip install --quiet 'numpy<2' 'tflite-runtime==2.14.*' -e '.[data,test]'

test-tflite-runtime: $(OLD_BIN)/python
	KERAS_WHT_EXPECT_RUNTIMES=tflite_runtime,tensorflow $(OLD_BIN)/python -m pytest -n 2 -q -m "not slow" tests/tflite

bench: install
	$(BIN)/python benchmarks/fwht_formulations.py
	$(BIN)/python benchmarks/tflite_layers.py

clean:
	rm -rf $(VENV) $(OLD_VENV) build *.egg-info .pytest_cache .hypothesis
