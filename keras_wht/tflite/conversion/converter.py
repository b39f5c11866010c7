"""convert(): Keras models with WHT layers to TFLite flatbuffers.

The steps, in order: a float32 twin for models under a lower-precision dtype policy
(precision), the WHT layers marked for custom ops (lowering), TensorFlow's converter,
int8 with the WHT layers in float (quantization), the Keras model's input and output
order and names (signature), and on request a parity check (keras_wht.tflite.verification).
"""

import warnings

import tensorflow as tf

from keras_wht import _checks
from keras_wht._keras import keras
from keras_wht.tflite import contract, verification
from keras_wht.tflite.conversion import calibration, compat, lowering, precision, quantization, rewrite, signature
from keras_wht.tflite.runtime import custom_ops as native

QUANTIZE = (None, "dynamic", "float16", "int8", "qat")
IO_DTYPES = ("float32", "int8")


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
            threshold as constant inputs; with quantize="int8" or "qat", int8 inputs and
            outputs (the kernels compute in float inside). `Interpreter` registers the kernels;
            C++ apps call keras_wht::RegisterCustomOps (csrc/keras_wht/custom_ops.h). A layer the
            kernels do not cover (blocks over 65536 elements) stays in builtin ops, with
            a warning. Only WHT layers become custom
            ops: any other TensorFlow op TFLite lacks is a ValueError, as without
            custom_ops. Needs the kernel library, built by pip install.
        quantize: None (float32), "dynamic" (int8 weights), "float16" (float16 weights) or
            "int8" (post-training integer quantization; needs `representative_data`). In
            int8 models the WHT layers compute in float32 between a dequantize and a
            quantize: their transform coefficients span too wide a range for one int8
            scale (the DC term dwarfs the rest), and quantizing them costs MobileNetV2
            `paper-540k` 72 points of digits accuracy; everything else is int8. "qat"
            converts a model from keras_wht.tflite.qat.quantize_model with the ranges
            learnt in training (no calibration data), with builtin or custom ops.
        representative_data: calibration inputs for "int8": an array of samples (batch
            first), a list of arrays for several inputs (in the model's order) or a dict
            {input name: array}, or a callable returning an iterable of samples (each an
            input list in the model's order, or a dict by input name), as TFLite's
            `representative_dataset`. Checked first: a ValueError names a shape that does
            not fit the model, no samples, or NaN or infinite values.
        io_dtype: with "int8", the model's input and output type: "float32" (quantize and
            dequantize inside the model) or "int8" (scale and zero point in the input and
            output details; `Interpreter.predict` applies them).
        verify: run the converted model and the Keras model on the same inputs
            (`representative_data` where given, else unit-scale random ones) and raise
            `ParityError` naming the output and the difference when they disagree, by
            `check_parity`'s default tolerance (call it yourself to set your own).

    The converted model takes its inputs and gives its outputs in the Keras model's order
    (`model.inputs`, `model.outputs`), whatever order TensorFlow's converter chose; its
    signature def names the inputs as the Keras model's input layers (`keras.Input(name=)`,
    else "input_layer", "input_layer_1", ... as saved in .keras files), and the outputs
    "output_0", "output_1", ... (dict outputs: their keys). A model built under a dtype policy other
    than float32 ("mixed_float16", "mixed_bfloat16", "float64") converts through a float32
    copy with the same weights, so the TFLite model computes in float32.

    Returns:
        The .tflite model as bytes.

    Example:
        >>> from keras_wht.layers import WHT1D
        >>> model = keras.Sequential([keras.Input((4, 4, 8)), WHT1D()])
        >>> buf = convert(model, verify=True)
        >>> buf[4:8]
        b'TFL3'
    """
    _check_arguments(model, custom_ops, quantize, representative_data, io_dtype)
    source, model = model, precision.float32_twin(model)
    samples = calibration.representative(representative_data, source) if quantize == "int8" else None
    converter = _tflite_converter(model, quantize=quantize, samples=samples)
    with warnings.catch_warnings():
        # TFLite's calibrator makes a tf.lite.Interpreter (deprecated) to feed samples by name.
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        if custom_ops:
            converter.allow_custom_ops = True
            with lowering.markers(model) as plans, compat.quiet_native_logs():
                # The converter logs each marker as a TF op "that needs a custom implementation".
                if quantize == "int8":
                    content = quantization.calibrated(converter, plans)
                else:
                    content = lowering.replace_markers(compat.quietly(converter.convert), plans)
            if quantize == "qat":
                # Each WHT op sits between the DEQUANTIZE and QUANTIZE of the fake quants QAT learnt
                # before and after the layer (a crop between them aside): it takes and gives their
                # int8 tensors instead.
                content = rewrite.quantize_before_selection(content, contract.OPS)
                content = rewrite.int8_custom_operators(content, contract.OPS)
        elif quantize == "int8":
            content = quantization.calibrated(converter)
        else:
            content = compat.quietly(converter.convert)
        if quantize == "int8":
            content = quantization.int8(model, content, samples, io_dtype,
                                        lowered=[p.layer for p in plans if p.reason is None] if custom_ops else ())
        if custom_ops:
            lowering.check_only_wht_ops(content)
    content = signature.keras_order(content, model, source)
    # Every model written the same way, whatever the steps before did: constants 64-byte
    # aligned, as LiteRT's C API needs for custom ops' inputs.
    content = rewrite.aligned_constants(content)
    if verify:
        given = None if representative_data is None or callable(representative_data) else representative_data
        verification.check_parity(source, content, inputs=given, quantize=quantize)
    return content


def _check_arguments(model, custom_ops, quantize, representative_data, io_dtype):
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a {keras.__name__} Model, got {type(model).__name__}.")
    if not isinstance(custom_ops, bool):
        raise ValueError(f"`custom_ops` must be True or False, got {custom_ops!r}.")
    _checks.one_of("quantize", quantize, QUANTIZE)
    if custom_ops:
        native.library()  # a clear error now if the kernels are not built
    _checks.one_of("io_dtype", io_dtype, IO_DTYPES)
    if io_dtype != "float32" and quantize != "int8":
        raise ValueError(f"`io_dtype`={io_dtype!r} needs quantize='int8', got quantize={quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' calibrates on `representative_data`: pass some typical inputs.")


def _tflite_converter(model, *, quantize, samples):
    """TensorFlow's converter for `model`, set up for builtin ops and `quantize`."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = calibration.by_name(samples, model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


__all__ = ["IO_DTYPES", "QUANTIZE", "convert"]
