"""convert(custom_ops=True) and the native kernels, against the Keras layers, on every
runtime that loads TF 2.21's models; the kernels' errors through the interpreters."""

import os
import subprocess
import sys

import numpy as np
import pytest
from flatbuffers import flexbuffers

from keras_wht import models, tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from keras_wht.tflite.conversion import rewrite
from keras_wht.tflite.runtime import custom_ops
from tests.layers.helpers import randomize
from tests.tflite.test_convert import CASES, RUNTIMES, _model, output_step

# `make test` builds the kernels and says so; elsewhere they may be missing.
pytestmark = pytest.mark.skipif(
    not custom_ops.available() and os.environ.get("KERAS_WHT_REQUIRE_KERNELS") != "1",
    reason="keras-wht's kernel library is not built",
)


def test_the_kernels_are_built_where_make_test_builds_them():
    assert custom_ops.available()
    assert custom_ops.isa() in ("avx512", "avx2", "neon", "scalar")


def test_the_thread_pool_is_pthreadpool_where_the_build_finds_it():
    # `make test` installs libpthreadpool-dev, so a build there finds it.
    assert custom_ops.thread_pool() in ("pthreadpool", "built-in")
    if os.environ.get("KERAS_WHT_REQUIRE_KERNELS") == "1" and os.path.exists("/usr/include/pthreadpool.h"):
        assert custom_ops.thread_pool() == "pthreadpool"


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_layer_parity_with_custom_ops(name, make, shape, rng):
    layer = make()
    model = _model(layer, shape, rng)
    content = tflite.convert(model, custom_ops=True)
    ours = [op for op in tflite.operators(content) if op.startswith("KerasWht")]
    assert ours == ["KerasWht1D" if isinstance(layer, WHT1D) else "KerasWht2D"]
    assert "Igamma" not in tflite.operators(content), "no marker is left"
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    want = np.asarray(model(x))
    for runtime in RUNTIMES:
        it = tflite.Interpreter(model_content=content, runtime=runtime)
        assert it.custom_ops == ours
        got = it.predict(x, batch_size=3, progress=False)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{name} on {runtime}")


def test_only_the_core_is_custom(rng):
    # Channel changes and strides stay builtin; the transform, threshold, inverse,
    # padding, cropping and residual are the op.
    model = _model(WHT2D(filters=4, strides=2, block_size=4), (10, 10, 8), rng)
    ops = tflite.operators(tflite.convert(model, custom_ops=True))
    assert ops.count("KerasWht2D") == 1
    assert "AVERAGE_POOL_2D" in ops and "BATCH_MATMUL" not in ops and "TANH" not in ops


def test_the_options_and_parameters_in_the_model(rng):
    layer = WHT2D(per_channel=True, block_size=(2, 4), order="sequency", residual=True)
    model = _model(layer, (4, 8, 3), rng)
    content = tflite.convert(model, custom_ops=True)
    schema = rewrite.schema
    fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = fb.subgraphs[0]
    (op,) = [o for o in graph.operators if fb.operatorCodes[o.opcodeIndex].customCode == b"KerasWht2D"]
    assert flexbuffers.Loads(bytes(op.customOptions)) == {
        "block_h": 2, "block_w": 4, "per_channel": True, "residual": True}
    scale = graph.tensors[op.inputs[1]]
    assert list(scale.shape) == [2, 4, 3]
    stored = np.frombuffer(bytes(fb.buffers[scale.buffer].data), "<f4").reshape(2, 4, 3)
    # Natural order: the sequency order's parameters permuted (rows of H_2 keep theirs).
    natural = np.empty_like(stored)
    perm = [0, 2, 3, 1]  # sequency row k of H_4 is natural row perm[k]
    natural[:, perm] = layer.scale.numpy()
    np.testing.assert_array_equal(stored, natural)


def _constant_offsets(content):
    """Where each constant's data starts in the file (the flatbuffer read without copying)."""
    from keras_wht.tflite.runtime.flatbuffer import schema as reader

    model = reader.Model.GetRootAsModel(content, 0)
    buffers = (model.Buffers(i) for i in range(model.BuffersLength()))
    return [b._tab.Vector(b._tab.Offset(4)) for b in buffers if b.DataLength()]


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_constants_are_64_byte_aligned_for_litert(quantize, rng):
    # LiteRT's CompiledModel refuses a custom op's constant input that is not 64-byte
    # aligned ("Unaligned host memory pointer"); TensorFlow's converter aligns them to 16
    # and the schema's object API to 1.
    model = _model(WHT2D(), (8, 8, 8), rng)
    model = keras.Sequential([model, keras.layers.BatchNormalization(), WHT1D()])
    content = tflite.convert(model, custom_ops=True, quantize=quantize,
                             representative_data=rng.standard_normal((4, 8, 8, 8)).astype("float32"))
    offsets = _constant_offsets(content)
    assert len(offsets) >= 4 and len(content) % rewrite.BUFFER_ALIGNMENT == 0
    assert [o % rewrite.BUFFER_ALIGNMENT for o in offsets] == [0] * len(offsets)


@pytest.mark.slow
@pytest.mark.parametrize("name, preset", [("mobilenet_v2", "paper-540k"), ("mobilenet_v3_large", "last-third"),
                                          ("resnet20", "last-third")])
def test_networks_with_custom_ops(name, preset):
    model = models.get(name)((32, 32, 3), classes=10, wht=preset)
    content = tflite.convert(model, custom_ops=True, verify=True)
    wht_layers = [layer for layer in model.layers if isinstance(layer, (WHT1D, WHT2D))]
    assert sum(op.startswith("KerasWht") for op in tflite.operators(content)) == len(wht_layers)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large", "resnet20", "resnet50"])
def test_int8_networks_run_every_custom_op_in_int8(name):
    # Each preset at 224x224 untrained: its deep activations shrink to about 1e-35, and the
    # int8 grids made for them must still be ones XNNPACK takes (it refuses a scale of
    # 1e-37, and copies whose input and output grids differ). Only the model's output and,
    # in ResNet20, the widening layer's average pooling (faster in float) stay float.
    model = models.get(name)((224, 224, 3), classes=10, wht=models.registry.paper_preset(name))
    data = np.random.default_rng(0).uniform(0, 1, (4, 224, 224, 3)).astype(np.float32)
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=data, verify=True)
    schema = rewrite.schema
    fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = fb.subgraphs[0]
    float_ops = []
    for op in graph.operators:
        code = fb.operatorCodes[op.opcodeIndex]
        out = graph.tensors[int(op.outputs[0])]
        if code.customCode:
            assert graph.tensors[int(op.inputs[0])].type == out.type == schema.TensorType.INT8
        elif out.type == schema.TensorType.FLOAT32:
            float_ops.append(max(code.builtinCode, code.deprecatedBuiltinCode))
    pooling = [schema.BuiltinOperator.DEQUANTIZE, schema.BuiltinOperator.AVERAGE_POOL_2D] if name == "resnet20" else []
    assert sorted(float_ops) == sorted(pooling + [schema.BuiltinOperator.DEQUANTIZE])


def test_dynamic_and_float16_weights_keep_the_custom_ops(rng):
    model = keras.Sequential([keras.Input((8, 8, 8)), keras.layers.Conv2D(8, 1), WHT2D()])
    randomize(model.layers[-1], rng)
    for quantize in ("dynamic", "float16"):
        content = tflite.convert(model, custom_ops=True, quantize=quantize, verify=True)
        assert "KerasWht2D" in tflite.operators(content)


def test_a_layer_the_kernels_do_not_cover_stays_builtin_with_a_warning(rng):
    model = keras.Sequential([keras.Input((1, 1, 1 << 17)), WHT1D(name="ours", block_size=256),
                              WHT1D(name="huge")])
    with pytest.warns(UserWarning, match="layer 'huge' stays in builtin TFLite ops: blocks of 131072 elements "
                                         "exceed the kernels' 65536"):
        content = tflite.convert(model, custom_ops=True)
    assert tflite.operators(content).count("KerasWht1D") == 1


def test_a_mixed_precision_layer_becomes_a_custom_op(rng):
    # It converts through its float32 twin (convert's dtype policies), so the kernels take it.
    import warnings

    model = keras.Sequential([keras.Input((4, 4, 8)), WHT1D(name="ours"), WHT1D(name="half", dtype="mixed_float16")])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*stays in builtin TFLite ops")
        content = tflite.convert(model, custom_ops=True)
    assert tflite.operators(content).count("KerasWht1D") == 2


@pytest.mark.parametrize("split", ["default", "any work"])
def test_threads_and_batch_sizes(split, rng, monkeypatch):
    # "any work": KERAS_WHT_MIN_WORK_PER_THREAD=1 (read when the op is prepared) makes
    # the ops split even a small input between the threads.
    if split == "any work":
        monkeypatch.setenv("KERAS_WHT_MIN_WORK_PER_THREAD", "1")
    model = _model(WHT1D(block_size=64), (16, 16, 256), rng)
    content = tflite.convert(model, custom_ops=True)
    x = rng.standard_normal((5, 16, 16, 256)).astype(np.float32)
    want = np.asarray(model(x))
    for threads in (1, 2, 3):
        got = tflite.Interpreter(model_content=content, num_threads=threads).predict(x, batch_size=2, progress=False)
        np.testing.assert_allclose(got, want, atol=1e-4)


def _cpu_flags():
    """The x86 CPU's feature flags from /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []


# KERAS_WHT_ISA name -> the CPU flags it needs (kernels.cc's CpuHas).
INSTRUCTION_SETS = {"scalar": [], "avx2": ["avx2", "fma"], "avx512": ["avx512f"]}


@pytest.mark.parametrize("isa", list(INSTRUCTION_SETS))
def test_every_instruction_set_gives_the_model_output(isa, tmp_path, rng):
    missing = [f for f in INSTRUCTION_SETS[isa] if f not in _cpu_flags()]
    if missing:
        pytest.skip(f"this CPU lacks {', '.join(missing)} (KERAS_WHT_ISA={isa})")
    # Partial vectors of channels (20, 40) and 1-D blocks of 64 and 1024, with a residual.
    whts = [WHT2D(per_channel=True), WHT1D(block_size=64, residual=True), WHT1D(block_size=1024)]
    inputs = keras.Input((8, 8, 20))
    y = keras.layers.Dense(40)(whts[0](inputs))
    y = keras.layers.Dense(1024)(whts[1](y))
    model = keras.Model(inputs, whts[2](y))
    for layer in whts:
        randomize(layer, rng)
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite.convert(model, custom_ops=True))
    assert sorted(tflite.Interpreter(model_path=path).custom_ops) == ["KerasWht1D", "KerasWht2D"]
    x = rng.standard_normal((2, 8, 8, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (f"import numpy as np; from keras_wht import tflite; from keras_wht.tflite.runtime import custom_ops; "
              f"it = tflite.Interpreter(model_path={str(path)!r}); "
              f"np.save({str(tmp_path / 'y.npy')!r}, it.predict(np.load({str(tmp_path / 'x.npy')!r}), progress=False)); "
              f"print(custom_ops.isa())")
    env = dict(os.environ, KERAS_WHT_ISA=isa)
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split()[-1] == isa
    want = np.asarray(model(x))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-4 * max(1.0, np.abs(want).max()))


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_users_own_interpreter_with_the_registerers(rng):
    model = _model(WHT1D(), (4, 4, 16), rng)
    content = tflite.convert(model, custom_ops=True)
    x = rng.standard_normal((1, 4, 4, 16)).astype(np.float32)
    classes = {"tensorflow": "tensorflow.lite.python.interpreter", "ai_edge_litert": "ai_edge_litert.interpreter"}
    for runtime in RUNTIMES:
        module = __import__(classes[runtime], fromlist=["InterpreterWithCustomOps"])
        it = module.InterpreterWithCustomOps(model_content=content,
                                             custom_op_registerers=custom_ops.custom_op_registerers())
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), np.asarray(model(x)),
                                   atol=1e-4, err_msg=runtime)


def _edited(content, edit):
    """The model with its KerasWht operator changed by edit(model, graph, op)."""
    import flatbuffers

    schema = rewrite.schema
    fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = fb.subgraphs[0]
    op = next(o for o in graph.operators if fb.operatorCodes[o.opcodeIndex].customCode.startswith(b"KerasWht"))
    edit(fb, graph, op)
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(fb.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def wht2d_content():
    model = keras.Sequential([keras.Input((8, 8, 4)), WHT2D()])
    return tflite.convert(model, custom_ops=True)


def _set_options(options):
    def edit(fb, graph, op):
        op.customOptions = list(options)
    return edit


def _set_scale_shape(shape):
    def edit(fb, graph, op):
        graph.tensors[op.inputs[1]].shape = shape
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set_options(b""), "KerasWht2D: custom options are missing or not a valid flexbuffer"),
    (_set_options(b"\x01\x02\x03\x04garbage"), "KerasWht2D: custom options are missing or not a valid flexbuffer"),
    (_set_options(flexbuffers.Dumps({"block_h": 8, "block_w": 6, "per_channel": False,
                                                               "residual": False})),
     'custom option "block_w" must be a power of two'),
    (_set_options(flexbuffers.Dumps({"block_h": 8})), 'custom options lack "block_w"'),
    (_set_scale_shape([4, 16]), "scale has shape (4, 16), the options and the input need (8, 8)"),
], ids=["empty", "garbage", "not-a-power-of-two", "missing-key", "parameter-shape"])
def test_malformed_models_fail_with_the_kernels_message(wht2d_content, edit, message):
    content = _edited(wht2d_content, edit)
    for runtime in RUNTIMES:
        with pytest.raises(ValueError) as info:
            tflite.Interpreter(model_content=content, runtime=runtime)
        assert message in str(info.value), runtime


def test_missing_kernels_are_reported_at_the_custom_op_path(monkeypatch, wht2d_content):
    custom_ops.library.cache_clear()
    monkeypatch.setattr(custom_ops, "_LIBRARY", "keras_wht.tflite._not_built")
    try:
        with pytest.raises(custom_ops.CustomOpsUnavailable, match="custom-op kernels are not built. Reinstall"):
            tflite.Interpreter(model_content=wht2d_content)
        with pytest.raises(custom_ops.CustomOpsUnavailable, match="apt-get install g\\+\\+ libflatbuffers-dev"):
            tflite.convert(keras.Sequential([keras.Input((4, 4, 8)), WHT1D()]), custom_ops=True)
        plain = tflite.convert(keras.Sequential([keras.Input((4, 4, 8)), WHT1D()]))
        assert tflite.Interpreter(model_content=plain).custom_ops == []  # builtin models need no kernels
    finally:
        custom_ops.library.cache_clear()


def test_register_rejects_what_is_not_a_resolver():
    with pytest.raises(ValueError, match="`resolver_address` must be the address of an op resolver, got 0"):
        custom_ops.register(0)


@pytest.mark.parametrize("make", [lambda: WHT2D(per_channel=True), lambda: WHT1D(block_size=8, residual=True),
                                  lambda: WHT1D(5)], ids=["wht2d", "wht1d", "wht1d-narrowing"])
def test_int8_models_keep_the_custom_op_with_int8_io(make, rng):
    layer = make()
    model = keras.Sequential([keras.Input((8, 8, 16)), keras.layers.Conv2D(16, 1), layer, keras.layers.Conv2D(8, 1)])
    randomize(layer, rng)
    data = rng.standard_normal((32, 8, 8, 16)).astype(np.float32)
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=data)
    ops = tflite.operators(content)
    name = "KerasWht2D" if isinstance(layer, WHT2D) else "KerasWht1D"
    # One op, fed and read as int8: no DEQUANTIZE/QUANTIZE pair around it.
    assert ops == ["QUANTIZE", "CONV_2D", name, "CONV_2D", "DEQUANTIZE"], ops
    schema = rewrite.schema
    fb = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = fb.subgraphs[0]
    (op,) = [o for o in graph.operators if fb.operatorCodes[o.opcodeIndex].customCode == name.encode()]
    assert graph.tensors[op.inputs[0]].type == graph.tensors[op.outputs[0]].type == schema.TensorType.INT8
    # Against the same model with the layer's float ops: the int8 networks agree to a
    # few output steps (each int8 layer rounds), and both track Keras.
    float_ops = tflite.convert(model, quantize="int8", representative_data=data)
    x = data[:8]
    got = tflite.Interpreter(model_content=content).predict(x, progress=False)
    ref = tflite.Interpreter(model_content=float_ops).predict(x, progress=False)
    want = np.asarray(model(x))
    scale = float(np.abs(want).max())
    assert np.abs(got - want).max() < 0.05 * scale
    assert np.abs(got - ref).max() < 0.05 * scale


def test_int8_lone_layer_stays_float(rng):
    # No int8 neighbour to hand it int8 values: the one op keeps float input and output.
    layer = WHT2D()
    model = _model(layer, (8, 8, 8), rng)
    data = rng.standard_normal((32, 8, 8, 8)).astype(np.float32)
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=data, verify=True)
    assert tflite.operators(content) == ["KerasWht2D"] and output_step(content) == 0.0
    report = tflite.check_parity(model, content, inputs=data, quantize="int8")
    assert max(report.values()) <= 1e-4  # the float bound


@pytest.mark.parametrize("strides", [1, 2])
def test_a_widening_layer_runs_its_op_on_the_input_channels(strides, rng):
    # Widening repeats input channels, so the op transforms the 3 input channels and the
    # copies are made after it and the pooling; the numbers are Keras' all the same.
    model = _model(WHT2D(filters=8, strides=strides), (6, 6, 3), rng)
    content = tflite.convert(model, custom_ops=True)
    ops = tflite.operators(content)
    assert ops.index("KerasWht2D") < ops.index("CONCATENATION")
    it = tflite.Interpreter(model_content=content)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(it.predict(x, progress=False), np.asarray(model(x)), atol=1e-5)
    per_channel = tflite.operators(tflite.convert(_model(WHT2D(filters=8, per_channel=True), (6, 6, 3), rng),
                                                  custom_ops=True))
    assert per_channel.index("KerasWht2D") > per_channel.index("CONCATENATION"), "its channels differ: grown first"


@pytest.mark.parametrize("strides", [1, 2])
def test_a_narrowing_layer_averages_its_channels_inside_its_op(strides, rng):
    # 13 -> 4 channels: means of groups of 3 (the 13th channel unread), inside the op,
    # which is told the output's width; no MEAN, RESHAPE or slice is left around it.
    model = _model(WHT1D(4, strides=strides), (6, 6, 13), rng)
    content = tflite.convert(model, custom_ops=True)
    assert tflite.operators(content) == ["STRIDED_SLICE"] * (strides > 1) + ["KerasWht1D"]
    fb = rewrite.schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    (op,) = [o for o in fb.subgraphs[0].operators if fb.operatorCodes[o.opcodeIndex].customCode == b"KerasWht1D"]
    assert flexbuffers.Loads(bytes(op.customOptions)) == {"block": 4, "channels": 4, "residual": False}
    x = rng.standard_normal((3, 6, 6, 13)).astype(np.float32)
    for runtime in RUNTIMES:
        got = tflite.Interpreter(model_content=content, runtime=runtime).predict(x, progress=False)
        np.testing.assert_allclose(got, np.asarray(model(x)), atol=1e-5, err_msg=runtime)
