"""convert(): Keras models with WHT layers to TFLite flatbuffers, checked against Keras."""

import contextlib
import io
import re
import warnings

import numpy as np
import tensorflow as tf

from keras_wht import _checks
from keras_wht._keras import keras, walk_layers
from keras_wht.layers.binary_layer import BinaryLayer, custom_op_export
from keras_wht.layers.smooth_threshold import SmoothThreshold
from keras_wht.tflite import custom_ops as native
from keras_wht.tflite import flatbuffer, rewrite
from keras_wht.tflite.interpreter import Interpreter

QUANTIZE = (None, "dynamic", "float16", "int8", "qat")
IO_DTYPES = ("float32", "int8")
# Largest |TFLite - Keras| that verify() accepts, on unit-scale inputs, per quantization.
TOLERANCE = {None: 1e-4, "float16": 1e-2, "dynamic": 5e-2}
# int8 and QAT models: the least signal-to-quantization-noise ratio verify() accepts, in dB.
# Rounding error piles up with depth, so no bound on the largest difference fits both one
# layer and a network; the ratio of the output's RMS to the error's RMS does. On digits a
# trained int8 MobileNetV2 that keeps its accuracy reaches 28 dB, one that loses 8 points
# 9 dB, and the stock conversion that breaks it -1 dB (benchmarks/int8_accuracy.py).
MIN_SQNR_DB = 20.0


class ParityError(ValueError):
    """A converted model's outputs differ from the Keras model's by more than allowed."""


def convert(model, *, custom_ops=False, quantize=None, representative_data=None, io_dtype="float32",
            verify=False):
    """Converts a Keras model (with WHT layers or without) to a TFLite flatbuffer.

    By default the result holds TFLite builtin operators only (no Flex/SELECT_TF ops), so
    it runs on every TFLite runtime, with XNNPACK on CPUs; the WHT layers lower to small
    dense matrix products, the fastest builtin formulation measured. `custom_ops=True`
    makes each WHT layer one native op instead, faster still (benchmarks/tflite_layers.py).

    Args:
        model: a Keras model (Keras 3, or tf_keras with TF_USE_LEGACY_KERAS=1).
        custom_ops: emit each WHT layer's transform, threshold and inverse as one native
            custom op (KerasWht1D, KerasWht2D; channel changes and strides stay builtin
            ops around it), with the options as a flexbuffer map and the trained scale and
            threshold as constant inputs; with quantize="int8", int8 inputs and outputs
            (the kernels compute in float inside). `Interpreter` registers the kernels;
            C++ apps call keras_wht::RegisterCustomOps (csrc/keras_wht/custom_ops.h). A layer the
            kernels do not cover (a compute dtype other than float32, blocks over 65536
            elements) stays in builtin ops, with a warning. Needs the kernel library,
            built by pip install.
        quantize: None (float32), "dynamic" (int8 weights), "float16" (float16 weights) or
            "int8" (post-training integer quantization; needs `representative_data`). In
            int8 models the WHT layers compute in float32 between a dequantize and a
            quantize: their transform coefficients span too wide a range for one int8
            scale (the DC term dwarfs the rest), and quantizing them costs MobileNetV2
            `paper-540k` 72 points of digits accuracy; everything else is int8. "qat"
            converts a model from keras_wht.tflite.qat.quantize_model with the ranges
            learnt in training (no calibration data).
        representative_data: calibration inputs for "int8": an array of samples (batch
            first), a list of arrays for several inputs, or a callable returning an
            iterable of input lists, as TFLite's `representative_dataset`.
        io_dtype: with "int8", the model's input and output type: "float32" (quantize and
            dequantize inside the model) or "int8" (scale and zero point in the input and
            output details; `Interpreter.predict` applies them).
        verify: run the converted model and the Keras model on the same inputs
            (`representative_data` where given, else unit-scale random ones) and raise
            `ParityError` naming the output and the difference when they disagree, by
            `check_parity`'s default tolerance (call it yourself to set your own).

    Returns:
        The .tflite model as bytes.

    Example:
        >>> from keras_wht.layers import WHT1D
        >>> model = keras.Sequential([keras.Input((4, 4, 8)), WHT1D()])
        >>> buf = convert(model, verify=True)
        >>> buf[4:8]
        b'TFL3'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a {keras.__name__} Model, got {type(model).__name__}.")
    if not isinstance(custom_ops, bool):
        raise ValueError(f"`custom_ops` must be True or False, got {custom_ops!r}.")
    _checks.one_of("quantize", quantize, QUANTIZE)
    if custom_ops:
        native.library()  # a clear error now if the kernels are not built
        if quantize == "qat":
            raise ValueError(
                "custom_ops=True with quantize='qat' is not supported yet: use custom_ops=False (the WHT layers "
                "stay in float32 builtin ops), or post-training quantize='int8' with custom_ops=True."
            )
    _checks.one_of("io_dtype", io_dtype, IO_DTYPES)
    if io_dtype != "float32" and quantize != "int8":
        raise ValueError(f"`io_dtype`={io_dtype!r} needs quantize='int8', got quantize={quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' calibrates on `representative_data`: pass some typical inputs.")

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = custom_ops
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        representative = _representative(representative_data, model)
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        if io_dtype == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    if custom_ops:
        with custom_op_export() as records, _stderr_quiet():
            # The converter logs each marker as a TF op "that needs a custom implementation".
            if quantize == "int8":
                _custom_ops_before_calibration(converter, records)
            content = _quietly(converter.convert)
        if quantize == "int8":
            content = rewrite.int8_custom_operators(content, native.OPS)
        else:
            content = _with_custom_ops(content, records)
    else:
        content = _quietly(converter.convert)
    if quantize == "int8" and not custom_ops:
        content = _wht_layers_in_float(model, converter, content, io_dtype, representative)
    if verify:
        check_parity(model, content, inputs=None if representative_data is None or callable(representative_data)
                     else representative_data, quantize=quantize)
    return content


def _custom_ops_before_calibration(converter, records):
    """Makes the converter put in the custom ops before it calibrates, and calibrate
    with the kernels registered, so the int8 model keeps each WHT layer as one op (with
    int8 input and output) and its neighbours are calibrated on what the kernels compute.
    This hooks TF 2.21's TFLiteConverter._quantize (the version keras-wht pins)."""
    quantize = getattr(converter, "_quantize", None)
    if quantize is None or not hasattr(converter.target_spec, "_experimental_custom_op_registerers"):
        raise RuntimeError("custom_ops=True with quantize='int8' needs TensorFlow 2.21's TFLite converter.")
    converter.target_spec._experimental_custom_op_registerers = native.custom_op_registerers()

    def quantize_with_custom_ops(result, *args, **kwargs):
        return quantize(_with_custom_ops(result, records), *args, **kwargs)

    converter._quantize = quantize_with_custom_ops


def _with_custom_ops(content, records):
    """Swaps the layers' markers for KerasWht1D/KerasWht2D operators with their options
    and parameters; warns about layers left to builtin ops."""
    from flatbuffers import flexbuffers

    kept = {r.layer.name: r.reason for r in records if r.reason is not None}
    for name, reason in sorted(kept.items()):
        warnings.warn(f"convert(custom_ops=True): layer {name!r} stays in builtin TFLite ops: {reason}.",
                      stacklevel=3)
    replacements = {}
    for key, record in enumerate(records):
        if record.reason is None:
            scale, threshold = record.parameters()
            options = flexbuffers.Dumps(record.options)
            replacements[key] = (record.op, options, [("scale", scale), ("threshold", threshold)])
    content, found = rewrite.replace_custom_operators(content, "Igamma", replacements)
    missing = {r.layer.name for r in records if r.reason is None} - {records[k].layer.name for k in found}
    if missing:
        raise RuntimeError(f"convert(custom_ops=True) found no custom operator for layer(s) {sorted(missing)}.")
    return content


def _wht_layers_in_float(model, converter, content, io_dtype, representative):
    """Re-quantizes with every node inside a WHT layer left in float32."""
    names = sorted({layer.name for layer in walk_layers(model) if isinstance(layer, (BinaryLayer, SmoothThreshold))})
    if not names:
        return content
    # Tensor names carry the layer's name scope, uniquified by tracing ("wht2d_1").
    scope = re.compile("/(" + "|".join(re.escape(n) for n in names) + r")(_\d+)?/")
    nodes = [name for name in flatbuffer.tensor_names(content) if scope.search(name)]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    # Making the debugger converts the model again, with Keras' export printing its endpoints.
    debugger = _quietly(lambda: tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative, debug_options=options
    ))
    content = _quietly(debugger.get_nondebug_quantized_model)
    if io_dtype == "int8":
        # Selective quantization keeps a float interface; make it int8 as asked.
        content = rewrite.int8_interface(content, *_ranges(model, representative))
    return content


def _ranges(model, representative):
    """(input ranges, output ranges) as (low, high) pairs over the calibration data."""
    samples = [list(s) for s in representative()]
    inputs = [np.concatenate([s[k] for s in samples]) for k in range(len(samples[0]))]
    outputs = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    outputs = [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    return [(a.min(), a.max()) for a in inputs], [(a.min(), a.max()) for a in outputs]


@contextlib.contextmanager
def _stderr_quiet():
    """Silences the process's stderr (the converter's C++ logging) for the block."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quietly(convert):
    # Keras' SavedModel export prints its endpoints to stdout on every conversion.
    with contextlib.redirect_stdout(io.StringIO()):
        return convert()


def check_parity(model, content, *, inputs=None, quantize=None, tolerance=None, samples=8, seed=0):
    """Runs `content` (a .tflite model) and `model` on the same inputs and returns
    {output name: largest |TFLite - Keras|}; raises `ParityError` when they disagree.

    They agree when every output's largest difference is within `tolerance`, if given.
    Otherwise the default depends on `quantize`: for float32 models the largest difference
    is within 1e-4 (on unit-scale inputs), 1e-2 for "float16" and 5e-2 for "dynamic"
    weights; int8 and QAT outputs must keep a signal-to-quantization-noise ratio of at
    least 20 dB (the RMS difference within a tenth of the output's RMS), since rounding
    error grows with depth. An int8 model sees its inputs rounded to int8 first; the Keras
    model is given the same rounded inputs, so the check measures the model's own error,
    not the input's rounding. A QAT model is compared with its fake-quantized Keras self.
    """
    if tolerance is not None:
        tolerance = _checks.positive_number("tolerance", tolerance)
    inputs = _inputs(model, inputs, samples, seed)
    interpreter = Interpreter(model_content=content)
    seen = _as_quantized(interpreter, content, inputs) if quantize == "int8" else inputs
    expected = model(seen if len(seen) > 1 else seen[0], training=False)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    got = interpreter.predict(inputs, batch_size=len(inputs[0]), progress=False)
    got = got if isinstance(got, list) else [got]
    integer = quantize in ("int8", "qat")
    steps = _output_steps(interpreter, content) if integer else {}
    report = {}
    for index, (detail, e, g) in enumerate(zip(interpreter.get_output_details(), expected, got)):
        diff = float(np.max(np.abs(e - g))) if e.size else 0.0
        report[detail["name"]] = diff
        where = f"TFLite output {index} ({detail['name']!r})"
        # An output with no int8 step (a float op last and first, as a lone WHT custom op)
        # is computed in float: the float tolerance.
        if tolerance is None and integer and steps.get(detail["index"]):
            sqnr = _sqnr_db(e, g)
            if not sqnr >= MIN_SQNR_DB:
                raise ParityError(
                    f"{where} differs from the Keras model by {sqnr:.1f} dB signal-to-quantization-"
                    f"noise (at least {MIN_SQNR_DB:g} dB wanted, quantize={quantize!r}) on "
                    f"{len(inputs[0])} inputs; the largest difference is {diff:.3g}, "
                    f"{diff / steps[detail['index']]:.1f} output steps. int8 rounding grows with depth: "
                    "judge the model by its task metric too, and pass `tolerance` for a bound of your own."
                )
            continue
        bound = tolerance if tolerance is not None else TOLERANCE[None if integer else quantize]
        if not diff <= bound:
            raise ParityError(
                f"{where} differs from the Keras model by {diff:.3g} (tolerance {bound:.3g}, "
                f"quantize={quantize!r}) on {len(inputs[0])} inputs."
            )
    return report


def _sqnr_db(expected, got):
    """10 log10(mean(expected^2) / mean((expected - got)^2)); inf when they are equal."""
    noise = float(np.mean(np.square(expected.astype(np.float64) - got)))
    signal = float(np.mean(np.square(expected.astype(np.float64))))
    if noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(signal / noise) if signal > 0.0 else float("-inf")


def _as_quantized(interpreter, content, inputs):
    """`inputs` rounded as the int8 model rounds them: to its input quantization grid."""
    quantizes = flatbuffer.quantized_inputs(content)
    scales = {d["index"]: d["quantization"] for d in interpreter.get_tensor_details()}
    rounded = []
    for detail, values in zip(interpreter.get_input_details(), inputs):
        scale, zero_point = detail["quantization"]
        if not scale and detail["index"] in quantizes:
            scale, zero_point = scales[quantizes[detail["index"]]]
        if scale:
            values = (np.clip(np.round(values / scale) + zero_point, -128, 127) - zero_point) * scale
        rounded.append(values.astype(np.float32))
    return rounded


def _output_steps(interpreter, content):
    """{output index: its int8 quantization step}, for float outputs the step of the int8
    tensor the model dequantizes into them."""
    scales = {d["index"]: d["quantization"][0] for d in interpreter.get_tensor_details()}
    dequantized = flatbuffer.dequantized_outputs(content)
    return {d["index"]: d["quantization"][0] or scales.get(dequantized.get(d["index"]), 0.0)
            for d in interpreter.get_output_details()}


def _inputs(model, given, samples, seed):
    if given is not None:
        arrays = given if isinstance(given, (list, tuple)) else [given]
        return [np.asarray(a, dtype=np.float32)[:samples] for a in arrays]
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if any(None in s for s in shapes):
        raise ValueError(f"verify needs static input shapes apart from the batch, got {shapes}: pass inputs.")
    return [rng.standard_normal((samples, *s)).astype(np.float32) for s in shapes]


def _representative(data, model):
    if callable(data):
        return data
    arrays = [np.asarray(a, dtype=np.float32) for a in (data if isinstance(data, (list, tuple)) else [data])]
    if len(arrays) != len(model.inputs):
        raise ValueError(f"`representative_data` must give {len(model.inputs)} input(s), got {len(arrays)}.")

    def generate():
        for i in range(len(arrays[0])):
            yield [a[i:i + 1] for a in arrays]

    return generate


__all__ = ["ParityError", "check_parity", "convert"]
