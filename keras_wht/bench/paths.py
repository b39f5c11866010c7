"""The execution paths a model is timed on, each as a callable that runs one batch.

- "keras": the Keras model called eagerly;
- "function": the same call traced once into a `tf.function` graph;
- "builtin": TFLite with builtin operators only (what every runtime runs, with XNNPACK);
- "custom": TFLite with each WHT layer as one native op (keras-wht's kernels);
- "int8": TFLite post-training int8 with builtin operators only (each WHT layer's ops in
  float between a DEQUANTIZE and a QUANTIZE);
- "int8-custom": the same with each WHT layer as one native op reading and writing int8.

The int8 models take and give int8 (io_dtype="int8"), as inside an int8 network: a model
of one layer then times the layer's int8 op, not conversions at its interface.

The TFLite paths take the interpreter's thread count; the Keras paths run on TensorFlow's
intra-op threads, fixed once per process (`keras_threads`).
"""

import numpy as np

PATHS = ("keras", "function", "builtin", "custom", "int8", "int8-custom")
TFLITE_PATHS = ("builtin", "custom", "int8", "int8-custom")
NATIVE_PATHS = ("custom", "int8-custom")  # the paths that need keras-wht's kernels


def check(paths):
    """`paths` as a tuple, each a known path; custom ops only where the kernels are built."""
    from keras_wht.tflite.runtime import custom_ops

    paths = tuple(paths)
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        raise ValueError(f"`paths` must be a non-empty list of {', '.join(PATHS)}; got {', '.join(paths) or 'none'}.")
    native = [p for p in paths if p in NATIVE_PATHS]
    if native and not custom_ops.available():
        raise custom_ops.CustomOpsUnavailable(
            f"the {' and '.join(repr(p) for p in native)} path(s) need keras-wht's kernel library, which this "
            f"installation lacks; install g++ and libflatbuffers-dev and reinstall keras-wht (or leave them out)")
    return paths


def default_paths():
    """Every path this installation can run: all of PATHS, less the native ones without the kernels."""
    from keras_wht.tflite.runtime import custom_ops

    return tuple(p for p in PATHS if p not in NATIVE_PATHS or custom_ops.available())


def keras_threads():
    """TensorFlow's intra-op thread count (its default, 0, means one per core)."""
    import os

    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()


def set_keras_threads(threads):
    """Fixes TensorFlow's intra-op threads; possible only before TensorFlow starts running ops."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised: keep what it has
        pass
    return keras_threads()


def convert(model, path, calibration):
    """The TFLite flatbuffer of `model` for a TFLite path."""
    from keras_wht import tflite

    if path == "builtin":
        return tflite.convert(model)
    if path == "custom":
        return tflite.convert(model, custom_ops=True)
    if path in ("int8", "int8-custom"):
        return tflite.convert(model, quantize="int8", representative_data=calibration, io_dtype="int8",
                              custom_ops=path == "int8-custom")
    raise ValueError(f"`path` must be one of {', '.join(TFLITE_PATHS)}, got {path!r}.")


def keras_runner(model, path, x):
    """A callable running `model` on `x` eagerly ("keras") or as a traced graph ("function")."""
    import tensorflow as tf

    x = tf.constant(x)
    if path == "keras":
        return lambda: model(x, training=False)
    if path == "function":
        graph = tf.function(lambda inputs: model(inputs, training=False))
        graph(x)  # trace once, outside the timing
        return lambda: graph(x)
    raise ValueError(f"`path` must be 'keras' or 'function', got {path!r}.")


def tflite_runner(content, x, *, threads, runtime=None):
    """A callable invoking an interpreter for `content` whose input was set to `x` beforehand."""
    from keras_wht.tflite import Interpreter

    it = Interpreter(model_content=content, num_threads=threads, runtime=runtime)
    detail = it.get_input_details()[0]
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127)
    it.set_tensor(detail["index"], x.astype(detail["dtype"]))
    return it.invoke
