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
# Models built under a float16 or bfloat16 dtype policy ("mixed_float16", "mixed_bfloat16")
# convert through a float32 copy, so TFLite computes more precisely than Keras does: the
# largest |TFLite - Keras| that verify() accepts, relative to the Keras output's largest
# magnitude (at least 1). Measured on 64 unit-scale inputs through Conv2D, WHT2D and WHT1D
# with random parameters (three seeds, builtin and custom ops alike): 1.2e-3 to 1.3e-3 for
# float16 and 7e-3 to 1.2e-2 for bfloat16 (8 significant bits); the bounds leave 3 to 4
# times that for deeper models. A "float64" model's float32 copy stays within TOLERANCE
# (1.8e-6 measured).
POLICY_TOLERANCE = {"float16": 5e-3, "bfloat16": 4e-2}
_LOW_PRECISION = ("float16", "bfloat16", "float64")


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

    source, model = model, _float32_twin(model)
    if quantize == "int8":
        representative = _representative(representative_data, source)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = custom_ops
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = _by_name(representative, model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        if io_dtype == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # TFLite's calibrator makes a tf.lite.Interpreter (deprecated) to feed samples by name.
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
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
    content = _keras_order(content, model, source)
    if verify:
        check_parity(source, content, inputs=None if representative_data is None or callable(representative_data)
                     else representative_data, quantize=quantize)
    return content


def _keras_order(content, model, source=None):
    """`content` with its inputs and outputs in the Keras model's order, and its signature
    inputs named as `source`'s (the user's model; `model` may be its float32 copy) input
    layers: the converter names them after the input tensors, which unnamed keras.Input
    calls name "keras_tensor_<n>" by a count that changes from run to run and is not saved
    in .keras files."""
    tensors, outputs = _signature_names(model)
    if len(tensors) > 1 or len(outputs) > 1:
        content, ordered_inputs, ordered_outputs = rewrite.io_order(content, tensors, outputs)
        unmatched = [side for side, names, done in (("inputs", tensors, ordered_inputs),
                                                    ("outputs", outputs, ordered_outputs))
                     if len(names) > 1 and not done]
        if unmatched and source is not None:
            warnings.warn(f"convert(): the TFLite model's {' and '.join(unmatched)} could not be matched to the "
                          f"Keras model's by name ({tensors}, {outputs}); they stay in the converter's order.",
                          stacklevel=3)
    if source is not None:
        names = [_input_name(t) for t in _model_inputs(source)]
        if len(names) == len(tensors) and len(set(names)) == len(names) and names != tensors:
            content = rewrite.rename_inputs(content, dict(zip(tensors, names)))
    return content


def _signature_names(model):
    """(input names, output names) that TensorFlow's converter gives a Keras model's
    signature def, in the Keras model's order: the input tensors' names; the outputs'
    "output_<k>" (k their position), or a dict output's keys in flattening order."""
    inputs = [_tensor_name(t) for t in _model_inputs(model)]
    structure = getattr(model, "_outputs_struct", None)
    outputs = list(getattr(model, "outputs", None) or [])
    if isinstance(structure, dict) and len(structure) == len(outputs):
        return inputs, sorted(structure)  # tf.nest and keras.tree flatten dicts by sorted key
    return inputs, [f"output_{k}" for k in range(len(outputs))]


def _model_inputs(model):
    return list(getattr(model, "inputs", None) or [])


def _tensor_name(tensor):
    return str(getattr(tensor, "name", "")).split(":")[0]


def _input_name(tensor):
    """The name of the input layer that makes `tensor` (the converted model's input name)."""
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None) or getattr(history, "layer", None)
    return getattr(layer, "name", None) or _tensor_name(tensor)


def _float32_twin(model):
    """`model`, or where any layer computes or keeps weights in float16, bfloat16 or
    float64 (a dtype policy), a copy of it with every layer in float32 and the same
    weights cast to float32. The global dtype policy is left as it was."""
    if not any(_off_float32(layer) for layer in [model, *walk_layers(model)]):
        return model
    if not isinstance(model, (keras.Sequential, _functional_class())):
        policies = sorted({layer.dtype_policy.name for layer in walk_layers(model) if _off_float32(layer)})
        raise ValueError(
            f"convert() converts a model with dtype policy {', '.join(policies)} through a float32 copy of it, "
            f"which needs a Sequential or functional model, got a {type(model).__name__}: build the model under the "
            "float32 policy (keras.mixed_precision.set_dtype_policy('float32')) and load the trained weights into it."
        )

    def float32_layer(layer):
        config = layer.get_config()
        if _off_float32(layer):
            config["dtype"] = "float32"
        return type(layer).from_config(config)

    previous = keras.config.dtype_policy() if hasattr(keras, "config") else None
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        twin = keras.models.clone_model(model, clone_function=float32_layer, recursive=True)
    finally:
        if previous is not None:
            keras.config.set_dtype_policy(previous)
    if len(twin.weights) != len(model.weights) or any(
            tuple(a.shape) != tuple(b.shape) for a, b in zip(twin.weights, model.weights)):
        raise RuntimeError(f"convert(): the float32 copy of {model.name!r} does not have the model's weights.")
    for mine, theirs in zip(twin.weights, model.weights):
        mine.assign(np.asarray(theirs).astype(np.dtype(_dtype_name(mine.dtype))))
    return twin


def _functional_class():
    try:
        from keras.src.models.functional import Functional
    except ImportError:  # tf_keras
        return keras.Model
    return Functional


def _dtype_name(dtype):
    return getattr(dtype, "name", None) or str(dtype)


def _off_float32(layer):
    policy = getattr(layer, "dtype_policy", None)
    if policy is None:
        return False
    dtypes = {_dtype_name(getattr(policy, "compute_dtype", None)), _dtype_name(getattr(policy, "variable_dtype", None))}
    return bool(dtypes & set(_LOW_PRECISION))


def _precision(model):
    """The lowest float precision a layer of `model` computes in, when below float32
    ("float16" or "bfloat16"), else None."""
    dtypes = {_dtype_name(layer.dtype_policy.compute_dtype)
              for layer in [model, *walk_layers(model)] if getattr(layer, "dtype_policy", None) is not None}
    for dtype in ("float16", "bfloat16"):
        if dtype in dtypes:
            return dtype
    return None


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
        converter=converter, debug_dataset=_by_name(representative, model), debug_options=options
    ))
    content = _quietly(debugger.get_nondebug_quantized_model)
    if io_dtype == "int8":
        # Selective quantization keeps a float interface; make it int8 as asked (the ranges
        # come in the Keras model's order).
        content = rewrite.int8_interface(_keras_order(content, model), *_ranges(model, representative))
    return content


def _ranges(model, representative):
    """(input ranges, output ranges) as (low, high) pairs over the calibration data."""
    samples = [list(s) for s in representative()]
    inputs = [np.concatenate([s[k] for s in samples]) for k in range(len(samples[0]))]
    outputs = _flat(model(inputs if len(inputs) > 1 else inputs[0], training=False))
    return [(a.min(), a.max()) for a in inputs], [(a.min(), a.max()) for a in outputs]


def _flat(outputs):
    """A Keras model's outputs as a list of arrays in `model.outputs` order."""
    return [np.asarray(o) for o in tf.nest.flatten(outputs)]


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
    expected = _flat(model(seen if len(seen) > 1 else seen[0], training=False))
    expected = [e.astype(np.float64) if e.dtype != np.float32 else e for e in expected]
    precision = _precision(model)
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
            sqnr = _sqnr_db(e, g)
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
        if tolerance is None and precision is not None:
            scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
            bound = max(bound, POLICY_TOLERANCE[precision] * scale)
        if not diff <= bound:
            raise ParityError(
                f"{where} differs from the Keras model by {diff:.3g} (tolerance {bound:.3g}, "
                f"quantize={quantize!r}{'' if precision is None else f', Keras in {precision}'}) on "
                f"{len(inputs[0])} inputs."
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
        return [a[:samples] for a in _arrays(given, model, "inputs")]
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if any(None in s for s in shapes):
        raise ValueError(f"verify needs static input shapes apart from the batch, got {shapes}: pass inputs.")
    return [rng.standard_normal((samples, *s)).astype(np.float32) for s in shapes]


def _arrays(data, model, what):
    """`data` (an array, a list in the model's input order, or a dict by input name) as a
    list of float32 arrays in the model's input order."""
    names = [_input_name(t) for t in _model_inputs(model)]
    if isinstance(data, dict):
        unknown, missing = sorted(set(map(str, data)) - set(names)), [n for n in names if n not in data]
        if unknown or missing:
            raise ValueError(f"`{what}` is a dict by input name: the model's inputs are {names}"
                             f"{f', missing {missing}' if missing else ''}{f', unknown {unknown}' if unknown else ''}.")
        data = [data[n] for n in names]
    arrays = list(data) if isinstance(data, (list, tuple)) else [data]
    if names and len(arrays) != len(names):
        raise ValueError(f"`{what}` must give {len(names)} input(s) ({', '.join(names)}), got {len(arrays)}.")
    converted = []
    for k, a in enumerate(arrays):
        try:
            converted.append(np.asarray(a, dtype=np.float32))
        except (TypeError, ValueError) as err:
            raise ValueError(f"`{what}` for input {_label(names, k)} must be numbers, got {type(a).__name__}: "
                             f"{err}.") from err
    return converted


def _label(names, k):
    return repr(names[k]) if k < len(names) else str(k)


def _check_samples(arrays, model, what, *, first=False):
    """Raises a ValueError naming `what` when `arrays` (one per model input, batch first)
    do not fit the model's inputs, hold no samples, or values that are not finite."""
    names = [_input_name(t) for t in _model_inputs(model)]
    shapes = [tuple(t.shape) for t in _model_inputs(model)]
    sample = "its first sample " if first else ""
    for k, (a, shape) in enumerate(zip(arrays, shapes)):
        wanted = tuple("?" if d is None else d for d in shape[1:])
        fits = a.ndim == len(shape) and all(d is None or d == n for d, n in zip(shape[1:], a.shape[1:]))
        if not fits:
            raise ValueError(
                f"`{what}` does not fit input {_label(names, k)}: {sample}has shape {a.shape}, the model takes "
                f"(samples, {', '.join(map(str, wanted))}{',' if len(wanted) == 1 else ''}) "
                f"(per sample {wanted}, got {a.shape[1:]})."
            )
        if len(a) == 0:
            raise ValueError(f"`{what}` has no samples: {sample}input {_label(names, k)} has shape {a.shape}.")
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        if bad:
            raise ValueError(f"`{what}` holds {bad} NaN or infinite value(s) in {sample}input {_label(names, k)} "
                             f"(of {a.size}): calibration needs finite inputs.")


def _representative(data, model):
    """The calibration data as a callable yielding lists of float32 arrays in the model's
    input order, checked against the model's inputs first."""
    if not callable(data):
        arrays = _arrays(data, model, "representative_data")
        _check_samples(arrays, model, "representative_data")

        def generate():
            for i in range(len(arrays[0])):
                yield [a[i:i + 1] for a in arrays]

        return generate

    what = "representative_data()"
    peeked = iter(data())
    try:
        first = next(peeked)
    except StopIteration:
        raise ValueError(f"`{what}` yields no samples.") from None
    _check_samples(_arrays(first, model, what), model, what, first=True)
    # A callable that returns one iterator each time (not a fresh generator) would come
    # back without the sample looked at: give the converter that sample, then the rest.
    pending = [(first, peeked)]

    def generate():
        if pending:
            head, rest = pending.pop()
            samples = _chain(head, rest)
        else:
            samples = data()
        for sample in samples:
            yield _arrays(sample, model, what)

    return generate


def _chain(head, rest):
    yield head
    yield from rest


def _by_name(samples, model):
    """Calibration samples as TFLite's converter wants them: for several inputs a dict by
    signature (Keras input) name, since it feeds a list in its own tensor order."""
    names = [_tensor_name(t) for t in _model_inputs(model)]
    if len(names) <= 1 or len(set(names)) != len(names):
        return samples

    def generate():
        for sample in samples():
            yield dict(zip(names, sample))

    return generate


__all__ = ["POLICY_TOLERANCE", "ParityError", "check_parity", "convert"]
