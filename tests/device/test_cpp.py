"""The workstation's models through LiteRT's C API from C++: tests/device/cpp/litert_run.cc,
built with g++ against the libLiteRt.so of the ai-edge-litert wheel and the kernel library
the device's `pip install` built, no Python in the loop.

Part of the device pass (run from the folder tests/device/make_models.py wrote), for the
litert environment only. Every model runs to the Keras outputs, those with the KerasWht
custom ops (float32 and int8) through KerasWht_AddLiteRtCustomOps; without it they fail
with a clear error.
"""

import importlib.util
import os
import shutil
import subprocess

import manifest
import numpy as np
import pytest
from manifest import MODELS

if os.environ.get("KERAS_WHT_DEVICE_RUNTIME", "litert") != "litert":
    pytest.skip("the C++ runner links ai-edge-litert's libLiteRt.so: litert device pass only",
                allow_module_level=True)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "cpp", "litert_run.cc")
CSRC = os.path.join(HERE, "..", "..", "csrc")  # keras_wht/custom_ops.h and litert_abi.h
REFUSED = [c for c in manifest.cases() if "litert_c_api_refuses" in c]
CASES = [c for c in manifest.cases() if c not in REFUSED]
CUSTOM_CASES = [c for c in CASES if any(op.startswith("KerasWht") for op in c["operators"])]


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ to build tests/device/cpp/litert_run.cc")
    import ai_edge_litert

    lib_dir = os.path.dirname(os.path.abspath(ai_edge_litert.__file__))
    assert os.path.isfile(os.path.join(lib_dir, "libLiteRt.so")), f"no libLiteRt.so in {lib_dir}"
    # The kernels as pip built them on this device (a plain shared library).
    ops = importlib.util.find_spec("keras_wht.tflite._keras_wht_ops").origin
    exe = str(tmp_path_factory.mktemp("litert_run") / "litert_run")
    out = subprocess.run([compiler, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{CSRC}", "-o", exe,
                          SOURCE, ops, f"-L{lib_dir}", "-lLiteRt", f"-Wl,-rpath,{lib_dir}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return exe


def _run(exe, model, inputs, output, *flags, env=None, timeout=120):
    """Runs litert_run; returns (CompletedProcess, tensor descriptions from its stdout)."""
    out = subprocess.run([exe, *flags, model, ",".join(inputs), output], capture_output=True, text=True,
                         env=env, timeout=timeout)
    tensors = {"input": [], "output": []}
    for line in out.stdout.splitlines():
        words = line.split()
        if words and words[0] in tensors:
            _, index, name, dtype, shape = words
            assert int(index) == len(tensors[words[0]])
            tensors[words[0]].append((name, dtype, tuple(int(d) for d in shape.split("x"))))
        elif words and words[0] == "samples":
            tensors["samples"] = int(words[1])
    return out, tensors


def _write_inputs(case, directory):
    """The case's inputs as raw float32 files, NAME=PATH when the model has named inputs."""
    inputs = manifest.arrays(case, "inputs")
    names = case.get("input_names", [None] * len(inputs))
    args = []
    for k, (name, x) in enumerate(zip(names, inputs)):
        path = str(directory / f"input{k}.bin")
        np.ascontiguousarray(x, dtype="<f4").tofile(path)
        args.append(f"{name}={path}" if name else path)
    return inputs, args


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_cpp_runner_gives_the_keras_outputs(runner, case, threads, tmp_path):
    if threads > 1 and case not in CUSTOM_CASES:
        pytest.skip("the threads are the custom ops'")
    inputs, args = _write_inputs(case, tmp_path)
    expected = manifest.arrays(case, "expected")
    output = str(tmp_path / "output.bin")
    # Two threads split any work (KERAS_WHT_MIN_WORK_PER_THREAD=1), so the tiny models use both.
    env = dict(os.environ, KERAS_WHT_MIN_WORK_PER_THREAD="1")
    out, tensors = _run(runner, os.path.join(MODELS, case["file"]), args, output, "--threads", str(threads),
                        env=env)
    assert out.returncode == 0, out.stderr
    assert "keras-wht" not in out.stderr, out.stderr
    samples = len(inputs[0])
    assert tensors["samples"] == samples
    assert len(tensors["input"]) == len(inputs) and len(tensors["output"]) == len(expected)
    int8_io = "-io" in case["name"] and case["name"].startswith("int8")
    for name, dtype, shape in tensors["input"] + tensors["output"]:
        assert dtype == ("int8" if int8_io else "float32"), (name, dtype)
        assert shape[0] == 1, (name, shape)

    flat = np.fromfile(output, dtype="<f4")
    sizes = [samples * int(np.prod(shape)) for _, _, shape in tensors["output"]]
    assert flat.size == sum(sizes)
    got = [g.reshape((samples,) + shape[1:])
           for g, (_, _, shape) in zip(np.split(flat, np.cumsum(sizes)[:-1]), tensors["output"])]
    manifest.assert_matches(got, expected, case["check"])


@pytest.mark.parametrize("case", CUSTOM_CASES[:1], ids=[c["name"] for c in CUSTOM_CASES[:1]])
def test_custom_ops_not_registered_fail_clearly(runner, case, tmp_path):
    _, args = _write_inputs(case, tmp_path)
    output = tmp_path / "output.bin"
    out, _ = _run(runner, os.path.join(MODELS, case["file"]), args, str(output), "--no-custom-ops")
    assert out.returncode == 1, out.stderr
    want = "litert_run: LiteRtRunCompiledModel (sample 0) failed: LiteRT status 3 (ErrorRuntimeFailure)"
    assert want in out.stderr
    assert "unresolved custom op: KerasWht" in out.stderr
    assert not output.exists()


@pytest.mark.parametrize("case", REFUSED, ids=[c["name"] for c in REFUSED])
def test_ops_litert_cannot_tell_apart_are_refused(runner, case, tmp_path):
    _, args = _write_inputs(case, tmp_path)
    output = tmp_path / "output.bin"
    out, _ = _run(runner, os.path.join(MODELS, case["file"]), args, str(output))
    assert out.returncode == 1, out.stderr
    assert "litert_run: KerasWht_AddLiteRtCustomOps: subgraph 0, op " in out.stderr
    assert case["litert_c_api_refuses"] in out.stderr
    assert not output.exists()


def test_the_runners_errors(runner, tmp_path):
    model = os.path.join(MODELS, "builtin.tflite")
    output = tmp_path / "output.bin"
    out = subprocess.run([runner], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage: litert_run [--no-custom-ops] [--threads N] MODEL.tflite" in out.stderr
    out, _ = _run(runner, model, [str(tmp_path / "x.bin")], str(output), "--threads", "0")
    assert out.returncode == 2 and "--threads must be 1 to 1024, got 0" in out.stderr

    out, _ = _run(runner, str(tmp_path / "missing.tflite"), [str(tmp_path / "x.bin")], str(output))
    assert out.returncode == 1
    assert "LiteRtCreateModelFromFile" in out.stderr and "status 500 (ErrorFileIO)" in out.stderr

    x = tmp_path / "x.bin"
    np.zeros(8 * 8 * 8 + 1, "<f4").tofile(x)  # not a whole number of 1x8x8x8 samples
    out, _ = _run(runner, model, [str(x)], str(output))
    assert out.returncode == 2 and "is not a whole number of samples of 512" in out.stderr
    out, _ = _run(runner, model, [f"nosuchinput={x}"], str(output))
    assert out.returncode == 2 and "the signature has no input named nosuchinput" in out.stderr
    out, _ = _run(runner, model, [str(x), str(x)], str(output))
    assert out.returncode == 2 and "has 1 input(s), got 2 file(s)" in out.stderr
    assert not output.exists()
