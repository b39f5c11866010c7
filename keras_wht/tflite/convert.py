"""convert(): Keras models with WHT layers to TFLite flatbuffers, checked against Keras."""

import numpy as np
import tensorflow as tf

from keras_wht._keras import keras
from keras_wht.tflite import flatbuffer
from keras_wht.tflite.interpreter import Interpreter

QUANTIZE = (None, "dynamic", "float16", "int8")
IO_DTYPES = ("float32", "int8")
# Largest |TFLite - Keras| that verify() accepts, on unit-scale inputs, per quantization.
TOLERANCE = {None: 1e-4, "float16": 1e-2, "dynamic": 5e-2}


class ParityError(ValueError):
    """A converted model's outputs differ from the Keras model's by more than allowed."""


def convert(model, *, custom_ops=False, quantize=None, representative_data=None, io_dtype="float32",
            verify=False):
    """Converts a Keras model (with WHT layers or without) to a TFLite flatbuffer.

    The result holds TFLite builtin operators only (no Flex/SELECT_TF ops), so it runs on
    every TFLite runtime, with XNNPACK on CPUs; the WHT layers lower to small dense matrix
    products, the fastest of the formulations measured (benchmarks/tflite_layers.py).

    Args:
        model: a Keras model (Keras 3, or tf_keras with TF_USE_LEGACY_KERAS=1).
        custom_ops: emit each WHT layer as one native custom op. Not available yet: the
            kernels are the project's next piece of work.
        quantize: None (float32), "dynamic" (int8 weights), "float16" (float16 weights) or
            "int8" (full-integer post-training quantization; needs `representative_data`).
        representative_data: calibration inputs for "int8": an array of samples (batch
            first), a list of arrays for several inputs, or a callable returning an
            iterable of input lists, as TFLite's `representative_dataset`.
        io_dtype: with "int8", the model's input and output type: "float32" (quantize and
            dequantize inside the model) or "int8".
        verify: run the converted model and the Keras model on the same inputs
            (`representative_data` where given, else unit-scale random ones) and raise
            `ParityError` naming the output and the difference when they disagree.

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
    if custom_ops:
        raise NotImplementedError(
            "custom_ops=True needs keras-wht's native TFLite kernels, which are not built yet; "
            "convert(model) gives the builtin-ops model, which every TFLite runtime runs."
        )
    if quantize not in QUANTIZE:
        raise ValueError(f"`quantize` must be one of {QUANTIZE}, got {quantize!r}.")
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"`io_dtype` must be one of {IO_DTYPES}, got {io_dtype!r}.")
    if io_dtype != "float32" and quantize != "int8":
        raise ValueError(f"`io_dtype`={io_dtype!r} needs quantize='int8', got quantize={quantize!r}.")
    if quantize == "int8" and representative_data is None:
        raise ValueError("quantize='int8' calibrates on `representative_data`: pass some typical inputs.")

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = _representative(representative_data, model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_dtype == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    content = converter.convert()
    if verify:
        check_parity(model, content, inputs=None if representative_data is None or callable(representative_data)
                     else representative_data, quantize=quantize)
    return content


def check_parity(model, content, *, inputs=None, quantize=None, samples=8, seed=0):
    """Largest |TFLite - Keras| per output; raises ParityError past the tolerance.

    The tolerance is 1e-4 for float32 models (on unit-scale inputs), looser for float16
    and dynamic-range weights, and one quantization step of the output for int8.
    """
    inputs = _inputs(model, inputs, samples, seed)
    expected = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    interpreter = Interpreter(model_content=content)
    got = interpreter.predict(inputs, batch_size=len(inputs[0]), progress=False)
    got = got if isinstance(got, list) else [got]
    report = {}
    for index, (detail, e, g) in enumerate(zip(interpreter.get_output_details(), expected, got)):
        diff = float(np.max(np.abs(e - g))) if e.size else 0.0
        scale = detail["quantization"][0]
        tolerance = TOLERANCE.get(quantize) if quantize != "int8" else _int8_tolerance(scale, e)
        report[detail["name"]] = diff
        if not diff <= tolerance:
            raise ParityError(
                f"TFLite output {index} ({detail['name']!r}) differs from the Keras model by {diff:.3g} "
                f"(tolerance {tolerance:.3g}, quantize={quantize!r}) on {len(inputs[0])} inputs."
            )
    return report


def _int8_tolerance(scale, expected):
    # One step of the output quantization; a float output of a full-integer model is
    # dequantized inside it, so its step comes from the float range.
    return float(scale) if scale else float(np.ptp(expected)) / 255.0


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


__all__ = ["ParityError", "check_parity", "convert", "flatbuffer"]
