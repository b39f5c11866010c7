"""The workstation's models through LiteRT's C API from C++: tests/device/cpp/litert_run.cc,
built with g++ against the libLiteRt.so of the ai-edge-litert wheel, no Python in the loop.

Part of the device pass (run from the folder tests/device/make_models.py wrote), for the
litert environment only. The models with the KerasWht custom ops are not run to their
outputs: litert_run registers no custom op kernels (LiteRT's custom-kernel interface is
not TFLite's TfLiteRegistration, which the kernels implement), and such a model must fail
with a clear error.
"""

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

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp", "litert_run.cc")
CASES = manifest.cases()
BUILTIN_CASES = [c for c in CASES if not any(op.startswith("KerasWht") for op in c["operators"])]
CUSTOM_CASES = [c for c in CASES if any(op.startswith("KerasWht") for op in c["operators"])]


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ to build tests/device/cpp/litert_run.cc")
    import ai_edge_litert

    lib_dir = os.path.dirname(os.path.abspath(ai_edge_litert.__file__))
    assert os.path.isfile(os.path.join(lib_dir, "libLiteRt.so")), f"no libLiteRt.so in {lib_dir}"
    exe = str(tmp_path_factory.mktemp("litert_run") / "litert_run")
    out = subprocess.run([compiler, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, SOURCE,
                          f"-L{lib_dir}", "-lLiteRt", f"-Wl,-rpath,{lib_dir}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return exe


def _run(exe, model, inputs, output, timeout=120):
    """Runs litert_run; returns (CompletedProcess, tensor descriptions from its stdout)."""
    out = subprocess.run([exe, model, ",".join(inputs), output], capture_output=True, text=True,
                         timeout=timeout)
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


@pytest.mark.parametrize("case", BUILTIN_CASES, ids=[c["name"] for c in BUILTIN_CASES])
def test_the_cpp_runner_gives_the_keras_outputs(runner, case, tmp_path):
    inputs, args = _write_inputs(case, tmp_path)
    expected = manifest.arrays(case, "expected")
    output = str(tmp_path / "output.bin")
    out, tensors = _run(runner, os.path.join(MODELS, case["file"]), args, output)
    assert out.returncode == 0, out.stderr
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
def test_custom_ops_the_runner_does_not_register_fail_clearly(runner, case, tmp_path):
    _, args = _write_inputs(case, tmp_path)
    output = tmp_path / "output.bin"
    out, _ = _run(runner, os.path.join(MODELS, case["file"]), args, str(output))
    assert out.returncode == 1, out.stderr
    want = "litert_run: LiteRtRunCompiledModel (sample 0) failed: LiteRT status 3 (ErrorRuntimeFailure)"
    assert want in out.stderr
    assert "unresolved custom op: KerasWht" in out.stderr
    assert not output.exists()


def test_the_runners_errors(runner, tmp_path):
    model = os.path.join(MODELS, "builtin.tflite")
    output = tmp_path / "output.bin"
    out = subprocess.run([runner], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage: litert_run MODEL.tflite" in out.stderr

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
