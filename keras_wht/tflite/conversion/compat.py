"""Every private TensorFlow and Keras interface keras-wht's conversion uses, in one place.

Each hook checks that the installed version still has what it uses and otherwise raises
a RuntimeError naming the hook, the interface and the TensorFlow version keras-wht is
tested with, instead of failing somewhere inside TensorFlow. `HOOKS` lists them with the
reason no public API does the job; tests/tflite/test_compat.py tests each one.
"""

import contextlib
import importlib
import io
import os
import re
import sys
import warnings

import tensorflow as tf

from keras_wht._keras import LEGACY, keras

TESTED_WITH = "2.21"
HOOKS = {
    "quantize_after": "TFLiteConverter._quantize: the only point between TensorFlow's float conversion and its "
                      "calibration, where the custom ops must already be in the model so calibration runs them",
    "calibrate_only": "TFLiteConverter._experimental_calibrate_only: TensorFlow's calibrator records wrong "
                      "ranges for tensors an in-place op overwrites (a batch norm's MUL after a WHT layer), and "
                      "this is the only way to get its calibrated model and correct them before quantizing",
    "quantize_calibrated": "tensorflow.lite.python.convert.mlir_quantize: quantizes a calibrated model, with "
                           "nodes kept in float (what tf.lite.experimental.QuantizationDebugger calls)",
    "calibrate_with_custom_ops": "TFLiteConverter.target_spec._experimental_custom_op_registerers: the calibration "
                                 "interpreter is made inside the converter, with no public way to give it kernels",
    "schema": "tensorflow.lite.python.schema_py_generated: the TFLite schema with the object API that edits a "
              "model (the `tflite` package on PyPI generates the reading API only)",
    "functional_class": "keras.src.models.functional.Functional: Keras 3 has no public test for a functional "
                        "model, which clone_model needs to tell apart from a subclassed one",
    "input_layer_name": "KerasTensor._keras_history: the one way, for every model kind, from a model input to "
                        "the input layer whose name the converted model's signature takes",
    "layer_nodes": "TensorFlow's tensor names in a converted model (layer name scopes, uniquified by tracing "
                   "as \"wht2d_1\"): selective quantization takes node names, and no API maps a Keras layer to them",
    "quiet_native_logs": "file descriptor 2: the converter's C++ code logs every custom op as an error on "
                         "stderr, past Python's logging and TF_CPP_MIN_LOG_LEVEL once TensorFlow is loaded",
}


def _missing(hook, what):
    return RuntimeError(
        f"keras-wht's conversion hook {hook!r} uses {what}, which TensorFlow {tf.__version__} (with "
        f"{keras.__name__} {getattr(keras, '__version__', '?')}) does not have; keras-wht is tested with "
        f"TensorFlow {TESTED_WITH}: pip install 'keras-wht[tensorflow]'."
    )


def quantize_after(converter, transform):
    """Makes `converter` pass its float model through `transform` (bytes -> bytes) just
    before it calibrates and quantizes it."""
    quantize = getattr(converter, "_quantize", None)
    if not callable(quantize):
        raise _missing("quantize_after", "TFLiteConverter._quantize")

    def quantize_transformed(result, *args, **kwargs):
        return quantize(transform(result), *args, **kwargs)

    converter._quantize = quantize_transformed


def calibrate_only(converter):
    """Makes `converter.convert()` return the calibrated float model (each activation
    tensor with the min and max TFLite's calibrator recorded) instead of quantizing it."""
    if not hasattr(converter, "_experimental_calibrate_only"):
        raise _missing("calibrate_only", "TFLiteConverter._experimental_calibrate_only")
    converter._experimental_calibrate_only = True


def quantize_calibrated(content, float_nodes=()):
    """The int8 model of a calibrated model (from `calibrate_only`), per-channel weights,
    float inputs and outputs, with the nodes (tensor names) `float_nodes` kept in float."""
    try:
        from tensorflow.lite.python import convert
    except ImportError:
        convert = None
    if not callable(getattr(convert, "mlir_quantize", None)):
        raise _missing("quantize_calibrated", "tensorflow.lite.python.convert.mlir_quantize")
    with warnings.catch_warnings(), quiet_native_logs():  # it prints its settings on stderr
        # Float inputs and outputs need no input statistics, which it would ask for.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return convert.mlir_quantize(content, denylisted_nodes=list(float_nodes) or None)


def calibrate_with_custom_ops(converter, registerers):
    """Makes the interpreter `converter` calibrates with register `registerers` (as
    InterpreterWithCustomOps' `custom_op_registerers`)."""
    if not hasattr(converter.target_spec, "_experimental_custom_op_registerers"):
        raise _missing("calibrate_with_custom_ops", "TFLiteConverter.target_spec._experimental_custom_op_registerers")
    converter.target_spec._experimental_custom_op_registerers = registerers


def schema():
    """TensorFlow's TFLite schema module with the object API (ModelT, OperatorT, ...)."""
    try:
        schema_py_generated = importlib.import_module("tensorflow.lite.python.schema_py_generated")
    except ImportError as err:
        raise _missing("schema", "tensorflow.lite.python.schema_py_generated") from err
    if not hasattr(schema_py_generated, "ModelT"):
        raise _missing("schema", "schema_py_generated.ModelT")
    return schema_py_generated


def functional_class():
    """The class of functional models (tf_keras: keras.Model, which it builds them as)."""
    if LEGACY:
        return keras.Model
    try:
        from keras.src.models.functional import Functional
    except ImportError as err:
        raise _missing("functional_class", "keras.src.models.functional.Functional") from err
    return Functional


def input_layer_name(tensor):
    """The name of the input layer that makes the model input `tensor`, or None."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    layer = getattr(history, "operation", None) or getattr(history, "layer", None)
    if layer is None:
        raise _missing("input_layer_name", "KerasHistory.operation (Keras 3) or .layer (tf_keras)")
    return getattr(layer, "name", None)


def layer_nodes(tensor_names, layer_names, *, required=True):
    """The tensors among `tensor_names` (a converted model's) that layers called
    `layer_names` compute; a RuntimeError when layers are named but none is found, if
    `required`."""
    if not layer_names:
        return []
    scope = re.compile("/(" + "|".join(re.escape(n) for n in layer_names) + r")(_\d+)?/")
    nodes = [name for name in tensor_names if scope.search(name)]
    if not nodes and required:
        raise _missing("layer_nodes", f"name scopes of the layers {sorted(layer_names)} in the converted "
                                      "model's tensor names")
    return nodes


@contextlib.contextmanager
def quiet_native_logs():
    """Silences the process's stderr (the converter's C++ logging) for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quietly(call):
    """call(), with stdout swallowed: Keras' SavedModel export, which TensorFlow's
    converter runs, prints the model's endpoints on every conversion."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call()
