"""The device half of the device pass: the workstation's models on a machine with one
TFLite runtime and no TensorFlow, keras-wht installed the documented device way.

Run from the folder tests/device/make_models.py wrote (the Makefile's test-device does),
with KERAS_WHT_DEVICE_RUNTIME naming the extra the environment was installed with.
"""

import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import sysconfig

import manifest
import numpy as np
import pytest
from manifest import MODELS

# The extra each device environment installs -> the runtime module it brings.
RUNTIME_OF_EXTRA = {"tflite-runtime": "tflite_runtime", "litert": "ai_edge_litert"}
RUNTIME = RUNTIME_OF_EXTRA[os.environ.get("KERAS_WHT_DEVICE_RUNTIME", "litert")]
CASES = manifest.cases()
# tflite-runtime 2.14 on aarch64 segfaults invoking an int8 FULLY_CONNECTED with a batch of
# two or more (found under qemu-user 7.2, as every emulated CPU; a model of one int8 Dense
# layer from TensorFlow's own converter does it; ai-edge-litert runs it): there the models
# run one sample at a time, and a test checks that the crash is still there.
ONE_AT_A_TIME = RUNTIME == "tflite_runtime" and platform.machine() == "aarch64"
BATCH = 1 if ONE_AT_A_TIME else 5


def test_this_is_a_device():
    # No TensorFlow, no Keras: what a Jetson with a TFLite runtime has.
    for name in ("tensorflow", "keras", "tf_keras"):
        assert importlib.util.find_spec(name) is None, f"{name} is importable in the device environment"
    import keras_wht
    from keras_wht import tflite

    # The installed package, not the checkout.
    site = sysconfig.get_paths()["purelib"]
    assert os.path.realpath(keras_wht.__file__).startswith(os.path.realpath(site)), keras_wht.__file__
    assert tflite.runtimes() == [RUNTIME]


def test_the_kernels_are_built():
    from keras_wht.tflite.runtime import custom_ops

    assert custom_ops.available()
    assert custom_ops.isa() == _best_isa(), (platform.machine(), custom_ops.isa())


def _best_isa():
    """The instruction set the kernels must pick here: NEON on aarch64 (the emulated pass),
    AVX-512 or AVX2 where /proc/cpuinfo lists them on x86-64, else scalar."""
    if platform.machine() == "aarch64":
        return "neon"
    if platform.machine() == "x86_64":
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
        if "avx512f" in flags:
            return "avx512"
        if {"avx2", "fma"} <= flags:
            return "avx2"
    return "scalar"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_the_workstations_model_gives_the_keras_outputs(case):
    from keras_wht import tflite

    path = os.path.join(MODELS, case["file"])
    options = {}
    if case.get("xnnpack_2_14_wrong") and RUNTIME == "tflite_runtime":
        from tflite_runtime.interpreter import OpResolverType

        with pytest.raises(ValueError, match=r"tflite_runtime 2.14's XNNPACK computes operator 0 \(CONV_2D\) wrong: "
                                             r"\"same\" padding .* runtime='ai_edge_litert', or run without XNNPACK"):
            tflite.Interpreter(model_path=path)
        options["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = tflite.Interpreter(model_path=path, **options)
    assert it.runtime == RUNTIME
    assert it.custom_ops == sorted(op for op in case["operators"] if op.startswith("KerasWht"))
    inputs = manifest.arrays(case, "inputs")
    got = it.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=BATCH, progress=False)
    got = got if isinstance(got, list) else [got]
    manifest.assert_matches(got, manifest.arrays(case, "expected"), case["check"])
    if "input_names" in case:
        # Inputs by name, in any order, give the same outputs.
        named = dict(reversed(list(zip(case["input_names"], inputs))))
        again = it.predict(named, batch_size=BATCH, progress=False)  # another batch size may round otherwise
        for g, a in zip(got, again):
            np.testing.assert_array_equal(g, a)


@pytest.mark.skipif(not ONE_AT_A_TIME, reason="tflite-runtime 2.14 on aarch64 only")
def test_tflite_runtime_on_aarch64_still_crashes_on_int8_batches():
    # The hazard the pass works around, in a process of its own and without keras-wht.
    code = ("import numpy as np\n"
            "from tflite_runtime.interpreter import Interpreter\n"
            "it = Interpreter(model_path='int8.tflite')\n"
            "d = it.get_input_details()[0]\n"
            "shape = [BATCH] + list(d['shape'][1:])\n"
            "it.resize_tensor_input(d['index'], shape)\n"
            "it.allocate_tensors()\n"
            "it.set_tensor(d['index'], np.zeros(shape, d['dtype']))\n"
            "it.invoke()\n")
    one = subprocess.run([sys.executable, "-c", code.replace("BATCH", "1")], cwd=MODELS, capture_output=True,
                         timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-c", code.replace("BATCH", "2")], cwd=MODELS, capture_output=True,
                         timeout=300)
    assert two.returncode == -signal.SIGSEGV, "the crash is gone: run the device models in batches again"


def test_the_runtimes_own_interpreter_takes_the_registerers():
    # A user who makes the runtime's interpreter directly registers the kernels so.
    import importlib

    from keras_wht.tflite import custom_op_registerers

    case = next(c for c in CASES if c["name"] == "custom")
    module = importlib.import_module(f"{RUNTIME}.interpreter")
    it = module.InterpreterWithCustomOps(model_path=os.path.join(MODELS, case["file"]),
                                         custom_op_registerers=custom_op_registerers())
    it.allocate_tensors()
    (x,) = manifest.arrays(case, "inputs")
    (want,) = manifest.arrays(case, "expected")
    it.set_tensor(it.get_input_details()[0]["index"], x[:1])
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), want[:1], atol=1e-4)


def test_the_workstation_side_says_what_to_install():
    from keras_wht import tflite

    with pytest.raises(ImportError, match=r"need tensorflow and keras.*pip install 'keras-wht\[tensorflow\]'"):
        tflite.convert  # noqa: B018
    with pytest.raises(ImportError, match=r"pip install 'keras-wht\[tensorflow\]'"):
        import keras_wht.layers  # noqa: F401


def test_the_command_line_on_a_device(tmp_path):
    import subprocess

    command = os.path.join(os.path.dirname(sys.executable), "keras-wht")
    out = subprocess.run([command, "info", "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["layers_use"] is None and info["packages"]["tensorflow"] is None
    assert info["tflite_runtimes"][RUNTIME] is not None
    assert info["custom_op_kernels"].startswith("built (")
    out = subprocess.run([command, "convert", "m.keras", "-o", str(tmp_path / "m.tflite")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("keras-wht convert: keras-wht's layers, models, training and conversion need ")
    assert "pip install 'keras-wht[tensorflow]'" in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(RUNTIME != "tflite_runtime", reason="tflite_runtime's import-order hazard")
def test_tflite_runtime_after_tensorflow_is_refused_clearly():
    # A process that imported TensorFlow (>= 2.20) before tflite_runtime cannot run it; the
    # device has no TensorFlow, so a stand-in module takes its place in sys.modules.
    import subprocess

    code = (
        "import sys, types; sys.modules['tensorflow'] = types.ModuleType('tensorflow')\n"
        "from keras_wht.tflite import Interpreter\n"
        "try:\n"
        f"    Interpreter(model_path={os.path.join(MODELS, 'builtin.tflite')!r})\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "tflite_runtime cannot run models in a process that imported TensorFlow before it" in out.stdout
    assert "runtime='ai_edge_litert'" in out.stdout


MUTANTS_PER_MODEL = 100
RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tflite", "mutant_runner.py")


@pytest.mark.parametrize("name", ["builtin", "custom", "int8", "int8-custom-io"])
def test_damaged_models_raise_value_error_or_run(name, tmp_path):
    # The workstation's fuzz test, on this runtime: seeded mutants of the device models run
    # in a subprocess, which must end with no signal and nothing but ok or ValueError.
    import importlib.util

    spec = importlib.util.spec_from_file_location("mutant_runner", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    with open(os.path.join(MODELS, f"{name}.tflite"), "rb") as f:
        content = f.read()
    folder = tmp_path / name
    folder.mkdir()
    rng = np.random.default_rng(sorted(c["name"] for c in CASES).index(name))
    for label, data in runner.mutants(content, MUTANTS_PER_MODEL, rng):
        (folder / f"{label}.tflite").write_bytes(data)
    outcomes = runner.run(folder, RUNTIME)
    assert len(outcomes) == MUTANTS_PER_MODEL
    assert not {f: o for f, o in outcomes.items() if not o.startswith(("ok", "ValueError: "))}


def test_running_models_imported_no_tensorflow():
    # Last in the file: every model above has run in this process by now.
    assert not {"tensorflow", "keras", "tf_keras"} & set(sys.modules)
