"""check_parity: a converted model against its Keras model, on the same inputs.

The bounds, by quantization: float32 models agree within TOLERANCE[None] on unit-scale
inputs, "float16" and "dynamic" weights within theirs; int8 and QAT outputs keep a
signal-to-quantization-noise ratio of at least MIN_SQNR_DB, since rounding error grows
with depth; a Keras model under a float16 or bfloat16 dtype policy computes less precisely
than its float32 conversion, so the float bound grows to POLICY_TOLERANCE times the
output's magnitude. docs/TFLITE.md explains the figures behind them.
"""

import numpy as np

from keras_wht import _checks
from keras_wht.tflite.conversion import calibration, precision, signature
from keras_wht.tflite.runtime import flatbuffer
from keras_wht.tflite.runtime.interpreter import Interpreter

# Largest |TFLite - Keras| accepted, on unit-scale inputs, per quantization.
TOLERANCE = {None: 1e-4, "float16": 1e-2, "dynamic": 5e-2}
# int8 and QAT models: the least signal-to-quantization-noise ratio accepted, in dB. No
# bound on the largest difference fits both one layer and a deep network; a ratio does
# (measured with `keras-wht accuracy RUN`).
MIN_SQNR_DB = 20.0
# Keras under a float16 or bfloat16 dtype policy: the largest |TFLite - Keras| accepted,
# relative to the Keras output's largest magnitude (at least 1), measured on Conv2D,
# WHT2D and WHT1D with random parameters and given 3 to 4 times headroom for depth.
POLICY_TOLERANCE = {"float16": 5e-3, "bfloat16": 4e-2}


class ParityError(ValueError):
    """A converted model's outputs differ from the Keras model's by more than allowed."""


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
    A Keras model with a float16 or bfloat16 dtype policy computes less precisely than its
    float32 TFLite conversion: the float bound is then at least POLICY_TOLERANCE (5e-3 for
    float16, 4e-2 for bfloat16) times the output's largest magnitude (at least 1).

    `inputs`: an array, a list of arrays in the model's order or a dict by input name.
    """
    if tolerance is not None:
        tolerance = _checks.positive_number("tolerance", tolerance)
    inputs = _inputs(model, inputs, samples, seed)
    interpreter = Interpreter(model_content=content)
    seen = _as_quantized(interpreter, content, inputs) if quantize == "int8" else inputs
    expected = signature.keras_outputs(model, seen)
    expected = [e.astype(np.float64) if e.dtype != np.float32 else e for e in expected]
    lowest = precision.lowest(model)
    got = interpreter.predict(inputs, batch_size=len(inputs[0]), progress=False)
    got = got if isinstance(got, list) else [got]
    integer = quantize in ("int8", "qat")
    steps = _output_steps(interpreter, content) if integer else {}
    has_int8 = integer and any(d["dtype"] == np.int8 for d in interpreter.get_tensor_details())
    report = {}
    for index, (detail, e, g) in enumerate(zip(interpreter.get_output_details(), expected, got)):
        diff = float(np.max(np.abs(e - g))) if e.size else 0.0
        report[detail["name"]] = diff
        where = f"TFLite output {index} ({detail['name']!r})"
        # An output computed in int8, or in float after int8 ops (a WHT custom op last), is
        # judged by its SQNR; a model with no int8 tensor at all (a lone WHT layer, which
        # stays float) by the float tolerance.
        step = steps.get(detail["index"])
        if tolerance is None and integer and (step or has_int8):
            sqnr = sqnr_db(e, g)
            if not sqnr >= MIN_SQNR_DB:
                in_steps = f", {diff / step:.1f} output steps" if step else ""
                raise ParityError(
                    f"{where} differs from the Keras model by {sqnr:.1f} dB signal-to-quantization-"
                    f"noise (at least {MIN_SQNR_DB:g} dB wanted, quantize={quantize!r}) on "
                    f"{len(inputs[0])} inputs; the largest difference is {diff:.3g}{in_steps}. int8 rounding "
                    "grows with depth: judge the model by its task metric too, and pass `tolerance` for a "
                    "bound of your own."
                )
            continue
        bound = tolerance if tolerance is not None else TOLERANCE[None if integer else quantize]
        if tolerance is None and lowest is not None:
            scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
            bound = max(bound, POLICY_TOLERANCE[lowest] * scale)
        if not diff <= bound:
            raise ParityError(
                f"{where} differs from the Keras model by {diff:.3g} (tolerance {bound:.3g}, "
                f"quantize={quantize!r}{'' if lowest is None else f', Keras in {lowest}'}) on "
                f"{len(inputs[0])} inputs."
            )
    return report


def sqnr_db(expected, got):
    """The signal-to-quantization-noise ratio of `got` against `expected`, in dB:
    10 log10(mean(expected^2) / mean((expected - got)^2)); inf when they are equal.

    >>> float(round(sqnr_db(np.array([1.0, -1.0]), np.array([1.1, -0.9])), 6))
    20.0
    """
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
        return [a[:samples] for a in calibration.arrays(given, model, "inputs")]
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if any(None in s for s in shapes):
        raise ValueError(f"verify needs static input shapes apart from the batch, got {shapes}: pass inputs.")
    return [rng.standard_normal((samples, *s)).astype(np.float32) for s in shapes]


__all__ = ["MIN_SQNR_DB", "POLICY_TOLERANCE", "ParityError", "TOLERANCE", "check_parity", "sqnr_db"]
