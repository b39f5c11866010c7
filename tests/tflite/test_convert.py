import os
import re

import numpy as np
import pytest

from keras_wht import models, tflite
from keras_wht._keras import keras
from keras_wht.layers import WHT1D, WHT2D
from tests.layers import test_wht1d, test_wht2d
from tests.layers.helpers import randomize

# The runtimes of this (workstation) environment; tflite_runtime is tested by the device pass.
RUNTIMES = tflite.runtimes()


def _model(layer, shape, rng):
    model = keras.Sequential([keras.Input(shape), layer])
    randomize(layer, rng)
    return model


def _layer_cases():
    for config in test_wht1d.CONFIGS:
        yield f"WHT1D{config}", (lambda c=config: WHT1D(**c)), (5, 6, 16)
    for config in test_wht2d.CONFIGS:
        yield f"WHT2D{config}", (lambda c=config: WHT2D(**c)), (7, 6, 6)


CASES = list(_layer_cases())


def output_step(content):
    """The int8 quantization step of the model's (first) output."""
    from keras_wht.tflite.verification import _output_steps

    interpreter = tflite.Interpreter(model_content=content)
    return _output_steps(interpreter, content)[interpreter.get_output_details()[0]["index"]]


def int8_roundings(content):
    """The quantization steps of the model's int8 roundings, one per distinct scale and zero
    point (a reshape or slice of an int8 tensor keeps its rounding)."""
    tensors = tflite.Interpreter(model_content=content).get_tensor_details()
    return [step for step, _ in {t["quantization"] for t in tensors if t["dtype"] == np.int8}]


def test_the_runtimes_this_environment_should_have():
    # The Makefile names what each of its environments installs; tf.lite comes with TF.
    expected = set(filter(None, os.environ.get("KERAS_WHT_EXPECT_RUNTIMES", "tensorflow").split(",")))
    assert expected <= set(tflite.runtimes())


@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_layer_parity_on_every_runtime(name, make, shape, rng):
    model = _model(make(), shape, rng)
    content = tflite.convert(model)
    assert set(tflite.operators(content)) <= BUILTIN_FLOAT_OPS, "only builtin operators, no Flex"
    x = rng.standard_normal((4, *shape)).astype(np.float32)
    want = np.asarray(model(x))
    for runtime in RUNTIMES:
        got = tflite.Interpreter(model_content=content, runtime=runtime).predict(x, batch_size=3, progress=False)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=f"{name} on {runtime}")


BUILTIN_FLOAT_OPS = {
    "ABS", "ADD", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PAD", "RELU", "RELU6",
    "RESHAPE", "SHAPE", "SOFTMAX", "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE", "PACK", "MINIMUM", "MAXIMUM",
    "DEQUANTIZE", "QUANTIZE",
}  # fmt: skip

PRESETS = [(name, preset) for name in models.BUILDERS for preset in [None, *models.presets(name)]]


@pytest.mark.slow
@pytest.mark.parametrize("name, preset", PRESETS, ids=[f"{n}-{p or 'plain'}" for n, p in PRESETS])
def test_preset_parity(name, preset):
    model = models.get(name)((32, 32, 3), classes=10, wht=preset)
    report = tflite.check_parity(model, tflite.convert(model))
    assert max(report.values()) <= 1e-4


@pytest.mark.slow
def test_thin_resnet50_preset_parity_on_both_paths():
    # alpha=0.45 gives widths that are no powers of two (29, 116, 232, ...): the WHT layers
    # grow and shrink them through their blocks, in Keras and in both lowerings.
    model = models.build("resnet50", wht="last-third", alpha=0.45, input_size=32)
    assert model.get_layer("conv5_block3_3_conv").output.shape[-1] == 920
    for custom_ops in (False, True):
        report = tflite.check_parity(model, tflite.convert(model, custom_ops=custom_ops))
        assert max(report.values()) <= 1e-4, custom_ops


@pytest.mark.parametrize("quantize, tolerance", [(None, 1e-5), ("dynamic", 5e-2), ("float16", 1e-2)])
def test_quantized_float_models(quantize, tolerance, rng):
    model = _model(WHT2D(block_size=4), (8, 8, 16), rng)
    model = keras.Sequential([keras.Input((8, 8, 16)), keras.layers.Conv2D(8, 1), *model.layers])
    content = tflite.convert(model, quantize=quantize, verify=True)
    report = tflite.check_parity(model, content, quantize=quantize)
    assert max(report.values()) <= tolerance
    if quantize == "float16":
        assert "DEQUANTIZE" in tflite.operators(content)  # float16 weights, dequantized at load


def test_int8_io_and_predict_dequantizes(rng):
    # Plain int8 mechanics on a model whose int8 accuracy is not in question.
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    x = rng.uniform(-1, 1, (32, 6, 6, 3)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x, io_dtype="int8")
    it = tflite.Interpreter(model_content=content)
    assert it.get_input_details()[0]["dtype"] == np.int8 and it.get_output_details()[0]["dtype"] == np.int8
    got = it.predict(x, batch_size=32, progress=False)
    step = it.get_output_details()[0]["quantization"][0]
    assert got.dtype == np.float32
    assert np.max(np.abs(got - np.asarray(model(x)))) <= 3 * step  # input rounding too
    # On the rounded inputs: the output's rounding (half a step) and the weights'.
    tflite.check_parity(model, content, inputs=x, quantize="int8", tolerance=2 * step)


def test_int8_parity_fails_on_a_broken_model_and_takes_a_tolerance(rng):
    model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3, padding="same")])
    x = rng.uniform(-1, 1, (32, 6, 6, 3)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x)
    report = tflite.check_parity(model, content, inputs=x, quantize="int8")  # 40 dB: well above 20
    kernel = model.layers[0].kernel
    kernel.assign(np.roll(np.asarray(kernel), 1, axis=-1))  # as if the channels were mixed up
    with pytest.raises(tflite.ParityError, match=r"TFLite output 0 \('.*'\) differs from the Keras model by "
                       r"-?\d+\.\d dB signal-to-quantization-noise \(at least 20 dB wanted, quantize='int8'\) "
                       r"on 8 inputs; the largest difference is .*, .* output steps\."):
        tflite.check_parity(model, content, inputs=x, quantize="int8")
    worst = max(report.values())
    with pytest.raises(tflite.ParityError, match=f"tolerance {worst / 2:.3g}, quantize='int8'"):
        tflite.check_parity(model, content, inputs=x, quantize="int8", tolerance=worst / 2)
    tflite.check_parity(model, content, inputs=x, quantize="int8", tolerance=100.0)  # the user's bound


def test_int8_custom_op_model_ending_in_a_wht_layer_is_judged_by_its_sqnr(rng):
    # The last layer is the WHT custom op in int8 after int8 ops, then a DEQUANTIZE to the
    # float output: the int8 criterion applies, not 1e-4.
    model = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, padding="same"), WHT2D()])
    randomize(model.layers[-1], rng)
    x = rng.standard_normal((32, 8, 8, 4)).astype(np.float32)
    content = tflite.convert(model, custom_ops=True, quantize="int8", representative_data=x, verify=True)
    assert tflite.operators(content)[-2:] == ["KerasWht2D", "DEQUANTIZE"]
    model.layers[-1].scale.assign(-np.asarray(model.layers[-1].scale))  # a broken model still fails
    with pytest.raises(tflite.ParityError, match=r"dB signal-to-quantization-noise .* the largest difference is "
                       r"[\d.]+, [\d.]+ output steps\. int8 rounding"):
        tflite.check_parity(model, content, inputs=x, quantize="int8")


@pytest.mark.parametrize("tolerance", [0, -1e-3, float("nan"), float("inf"), "1e-3", True])
def test_parity_tolerance_must_be_a_positive_number(tolerance, rng):
    model = _model(WHT1D(), (4, 4, 8), rng)
    with pytest.raises(ValueError, match=f"`tolerance` must be a positive number, got {re.escape(repr(tolerance))}"):
        tflite.check_parity(model, b"", tolerance=tolerance)


def test_parity_error_names_the_output(rng):
    model = _model(WHT1D(), (4, 4, 8), rng)
    content = tflite.convert(model)
    model.layers[0].scale.assign(np.full(8, 3.0, np.float32))  # the Keras model moves on
    with pytest.raises(tflite.ParityError, match=r"TFLite output 0 \('.*'\) differs from the Keras model by .* \(tolerance 0.0001"):
        tflite.check_parity(model, content)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(quantize="int4"), ValueError, "`quantize` must be one of None, 'dynamic', 'float16', 'int8', 'qat', got 'int4'"),
        (dict(quantize="int8"), ValueError, "quantize='int8' calibrates on `representative_data`"),
        (dict(io_dtype="int8"), ValueError, "`io_dtype`='int8' needs quantize='int8', got quantize=None"),
        (dict(io_dtype="uint8"), ValueError, "`io_dtype` must be one of 'float32', 'int8', got 'uint8'"),
        (dict(custom_ops="yes"), ValueError, "`custom_ops` must be True or False, got 'yes'"),
    ],
)
def test_convert_errors(kwargs, error, message, rng):
    model = _model(WHT1D(), (4, 4, 8), rng)
    with pytest.raises(error) as info:
        tflite.convert(model, **kwargs)
    assert message in str(info.value)


def test_convert_rejects_what_is_not_a_keras_model():
    with pytest.raises(TypeError, match="`model` must be a keras Model, got function"):
        tflite.convert(lambda x: x)


@pytest.mark.slow
@pytest.mark.parametrize("name, make, shape", CASES, ids=[c[0] for c in CASES])
def test_int8_layer_parity_within_one_step(name, make, shape, rng):
    model = _model(make(), shape, rng)
    x = rng.standard_normal((64, *shape)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x)
    # The WHT layers compute in float between int8 roundings: of the input (where the graph
    # quantizes it) and the output, and for a residual layer the transform's output too, which
    # the int8 ADD takes. Each errs by at most half its step: one step each is the tolerance.
    steps = int8_roundings(content)
    assert len(steps) <= (3 if make().get_config().get("residual") else 2)
    tflite.check_parity(model, content, inputs=x, quantize="int8", tolerance=sum(steps))


def test_int8_keeps_the_wht_layers_in_float(rng):
    model = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(8, 3, padding="same"), WHT2D(), WHT1D()])
    x = rng.standard_normal((32, 8, 8, 4)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x)
    tensors = tflite.Interpreter(model_content=content).get_tensor_details()
    inside = [t for t in tensors if "/smooth_threshold" in t["name"] or "/MatMul" in t["name"]]
    assert inside and all(t["dtype"] == np.float32 for t in inside)
    conv = [t for t in tensors if "/conv2d" in t["name"] and "/convolution" in t["name"]]
    assert conv and all(t["dtype"] == np.int8 for t in conv)  # the convolution is int8


@pytest.mark.parametrize("first", ["wht", "conv"])
def test_int8_inputs_and_outputs_with_wht_layers(first, rng):
    # A WHT layer first meets the int8 input through an added DEQUANTIZE; a convolution
    # first through the model's own QUANTIZE, which the rewrite drops.
    body = [WHT2D(block_size=4), keras.layers.Conv2D(4, 1)]
    model = keras.Sequential([keras.Input((8, 8, 6)), *(body if first == "wht" else body[::-1])])
    x = rng.standard_normal((64, 8, 8, 6)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x, io_dtype="int8")
    for runtime in RUNTIMES:
        it = tflite.Interpreter(model_content=content, runtime=runtime)
        assert it.get_input_details()[0]["dtype"] == np.int8 and it.get_output_details()[0]["dtype"] == np.int8
        step = it.get_output_details()[0]["quantization"][0]
        got = it.predict(x, batch_size=64, progress=False)
        assert np.max(np.abs(got - np.asarray(model(x)))) <= 3 * step  # two int8 layers, input rounding


@pytest.mark.parametrize("make", [lambda: WHT2D(strides=2, per_channel=True), lambda: WHT1D(units=12, order="sequency")])
def test_int8_io_single_layer_within_one_step(make, rng):
    model = _model(make(), (8, 8, 8), rng)
    x = rng.standard_normal((64, 8, 8, 8)).astype(np.float32)
    content = tflite.convert(model, quantize="int8", representative_data=x, io_dtype="int8")
    tflite.check_parity(model, content, inputs=x, quantize="int8", tolerance=output_step(content))
