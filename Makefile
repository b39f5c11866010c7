# Everything from nothing: `make demo` (the main job) and `make test` (the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export CUDA_VISIBLE_DEVICES ?=

# Debian packages: the compiler, flexbuffers header and pthreadpool (the kernels' threads)
# the kernels build with (at pip install too, the device venvs' included), CMake, the
# aarch64 cross compiler with qemu for the ARM kernel tests (which have no arm64
# pthreadpool, so they run the built-in pool), and mmdebstrap with qemu-user-static (and
# arch-test, which mmdebstrap uses to check the emulation) for the emulated arm64 userland
# of the aarch64 device pass.
APT_PACKAGES := g++ cmake libflatbuffers-dev libpthreadpool-dev g++-aarch64-linux-gnu qemu-user dataset-fashion-mnist \
	mmdebstrap qemu-user-static arch-test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The kernels must build here: a failed build is an error, not a package without them.
export KERAS_WHT_REQUIRE_KERNELS ?= 1

.PHONY: install apt-packages demo test test-kernels test-aarch64 test-keras3 test-legacy test-device test-device-aarch64 bench bench-peers accuracy accuracy-fashion clean

apt-packages:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(APT_PACKAGES); }

$(BIN)/python: | apt-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python apt-packages
	$(BIN)/pip install --quiet -e '.[tensorflow,legacy,litert,data,bench,test]'

demo: install
	$(BIN)/keras-wht demo

# Keras 3 first, then the same layers under tf_keras (TF_USE_LEGACY_KERAS=1), then the device
# pass, on x86-64 and on emulated aarch64.
test: install
	$(MAKE) test-kernels test-aarch64 test-keras3 test-legacy test-device test-device-aarch64

# The C++ kernels and their TFLite glue with AddressSanitizer and UndefinedBehaviorSanitizer
# (including the fuzz loop over options and shapes), once on pthreadpool and once on the
# built-in pool (the threaded tests run on each).
test-kernels: apt-packages
	cmake -S csrc -B build/kernels-sanitized -DKERAS_WHT_SANITIZE=ON -DKERAS_WHT_PTHREADPOOL=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/kernels-sanitized -j2 >/dev/null
	ctest --test-dir build/kernels-sanitized --output-on-failure
	cmake -S csrc -B build/kernels-sanitized-builtin-pool -DKERAS_WHT_SANITIZE=ON -DKERAS_WHT_PTHREADPOOL=OFF \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build/kernels-sanitized-builtin-pool -j2 >/dev/null
	ctest --test-dir build/kernels-sanitized-builtin-pool --output-on-failure

# The same tests cross-built for aarch64 (NEON against the scalar path) and run under qemu.
test-aarch64: apt-packages
	cmake -S csrc -B build/kernels-aarch64 -DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/csrc/cmake/aarch64-linux-gnu.cmake >/dev/null
	cmake --build build/kernels-aarch64 -j2 >/dev/null
	ctest --test-dir build/kernels-aarch64 --output-on-failure

test-keras3:
	KERAS_WHT_EXPECT_RUNTIMES=ai_edge_litert,tensorflow $(BIN)/python -m pytest -n 2 -q

test-legacy:
	TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -n 2 -q -m "not slow" \
		tests/layers tests/models/test_builders.py tests/legacy tests/test_keras_flavour.py \
		tests/tflite/test_lowering.py tests/tflite/test_compat.py

# The device pass: the models a workstation makes (tests/device/make_models.py: builtin,
# custom-op, int8, several inputs, mixed precision) with the Keras outputs they must give,
# run in fresh environments that hold one TFLite runtime and no TensorFlow, with keras-wht
# installed the documented device way (a real install, not the checkout).
DEVICE_MODELS := build/device-models
DEVICE_RUNTIMES := tflite-runtime litert

$(DEVICE_MODELS)/manifest.json: install
	rm -rf $(DEVICE_MODELS) && $(BIN)/python tests/device/make_models.py $(DEVICE_MODELS)

.venv-device-%/bin/python: | apt-packages
	$(PYTHON) -m venv .venv-device-$*
	.venv-device-$*/bin/pip install --quiet --upgrade pip
	.venv-device-$*/bin/pip install --quiet pytest

# Reinstalled every run (pip rebuilds a local folder), so the pass tests this checkout.
test-device-%: .venv-device-%/bin/python $(DEVICE_MODELS)/manifest.json
	.venv-device-$*/bin/pip install --quiet '.[$*]'
	cd $(DEVICE_MODELS) && KERAS_WHT_DEVICE_RUNTIME=$* $(CURDIR)/.venv-device-$*/bin/python -m pytest -q \
		-c $(CURDIR)/tests/device/pytest.ini --rootdir $(CURDIR)/tests/device $(CURDIR)/tests/device

test-device: $(addprefix test-device-,$(DEVICE_RUNTIMES))

# The device pass on aarch64, the Jetson's processor: an arm64 Debian 12 userland made once
# with mmdebstrap (cached in build/aarch64-userland, about 0.7 GB) and run under qemu-user
# as a Cortex-A76, keras-wht installed there the device way on each runtime (the kernels
# compile for NEON), the same models and tests (tests/device/aarch64.sh). Needs root: sudo.
AARCH64_USERLAND := build/aarch64-userland

test-device-aarch64: apt-packages $(DEVICE_MODELS)/manifest.json
	$(SUDO) tests/device/aarch64.sh $(AARCH64_USERLAND) $(DEVICE_MODELS) $(DEVICE_RUNTIMES)

# Made by pattern rules, so make would delete them as intermediate files after the run.
.PRECIOUS: .venv-device-%/bin/python

# The CPU fast Walsh-Hadamard transforms benchmarks/fwht_peers.py compares against, in the
# venv for `make bench` only. ffht-unofficial builds from source and needs numpy and
# pybind11 without declaring them; a peer that fails to install is left out (the benchmark
# says so).
bench-peers: install
	$(BIN)/pip install --quiet pybind11
	$(BIN)/pip install --quiet --no-build-isolation ffht-unofficial || echo "ffht-unofficial did not install: fwht_peers.py skips it"
	$(BIN)/pip install --quiet fht-cpu || echo "fht-cpu did not install: fwht_peers.py skips it"

# The README's benchmark tables and plot (into docs/bench), then the formulation and kernel
# benchmarks, the transform against its CPU peers (docs/bench/bench-fwht.md), whether a
# second thread pays (the custom ops at 1 and 2 threads: bench-threads.md), and where each
# network's time goes, operator by operator (bench-profile.md), and training time in TensorFlow,
# WHT networks and layers against the plain ones (bench-training.md).
bench: install bench-peers
	$(BIN)/keras-wht bench layers --threads 1,2 --out docs/bench
	$(BIN)/keras-wht bench layers --size paper --batch 10 --threads 1,2 --out docs/bench/paper-batch10
	$(BIN)/keras-wht bench models --paths builtin,custom,int8,int8-custom --out docs/bench
	$(BIN)/python benchmarks/fwht_formulations.py
	$(BIN)/python benchmarks/tflite_layers.py
	$(BIN)/python benchmarks/fwht_peers.py
	$(BIN)/python benchmarks/threads.py
	$(BIN)/python benchmarks/training_speed.py
	$(BIN)/python -m keras_wht.bench.profile docs/bench/bench-profile.md

# docs/bench/accuracy.md, which docs/TFLITE.md quotes: MobileNetV2 paper-540k trained on
# digits with the README's recipe (seed 0), and `keras-wht accuracy`'s table for the run.
ACCURACY_RUN := runs/accuracy/mobilenet_v2-paper-540k
accuracy: install
	rm -rf $(ACCURACY_RUN)
	$(BIN)/keras-wht train --model mobilenet_v2 --wht paper-540k --dataset digits --epochs 30 --batch-size 16 \
		--lr 1e-3 --seed 0 --out $(ACCURACY_RUN)
	$(BIN)/keras-wht accuracy $(ACCURACY_RUN)
	cp $(ACCURACY_RUN)/accuracy.md docs/bench/accuracy.md

# docs/bench/accuracy-fashion-mnist.md: each builder's plain network, a plain network of about
# its WHT preset's parameter count, and the preset, on Fashion-MNIST with one recipe (finished
# rows kept in docs/bench/accuracy-fashion-mnist.json), with the int8 rows of the WHT networks.
accuracy-fashion: install
	$(BIN)/python benchmarks/fashion_mnist.py

# A run of tests/device/aarch64.sh that was killed may leave mounts in the userland:
# refuse rather than delete through them.
clean:
	@! grep -q "$(CURDIR)/$(AARCH64_USERLAND)/" /proc/mounts || { echo "make clean: $(AARCH64_USERLAND) has mounts \
		left by a killed tests/device/aarch64.sh: umount them first (grep aarch64-userland /proc/mounts)" >&2; exit 1; }
	rm -rf $(VENV) .venv-device-* build *.egg-info .pytest_cache .hypothesis keras_wht/tflite/_keras_wht_ops*.so
