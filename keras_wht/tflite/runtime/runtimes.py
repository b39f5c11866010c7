"""The TFLite runtimes keras-wht runs on, in order of preference."""

import importlib
import importlib.metadata
import importlib.util
import sys
import warnings

# name -> (module, attribute path of its Interpreter class, pip package that provides it)
RUNTIMES = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "Interpreter", "ai-edge-litert"),
    "tensorflow": ("tensorflow", "lite.Interpreter", "tensorflow"),
    "tflite_runtime": ("tflite_runtime.interpreter", "Interpreter", "tflite-runtime"),
}
# The same runtimes' interpreters that take `custom_op_registerers`.
WITH_CUSTOM_OPS = {
    "ai_edge_litert": ("ai_edge_litert.interpreter", "InterpreterWithCustomOps"),
    "tensorflow": ("tensorflow.lite.python.interpreter", "InterpreterWithCustomOps"),
    "tflite_runtime": ("tflite_runtime.interpreter", "InterpreterWithCustomOps"),
}
# tflite_runtime (its last release is 2.14) runs TF 2.21's models, builtin and with the
# custom ops, in a process that has not loaded TensorFlow first; see _tensorflow_first.


def available():
    """Names of the installed runtimes, preferred first: ai_edge_litert (tf.lite's
    Interpreter is deprecated in its favour), tf.lite, tflite_runtime."""
    found = []
    for name, (module, _, _) in RUNTIMES.items():
        try:
            if importlib.util.find_spec(module.split(".")[0]) is not None:
                found.append(name)
        except (ImportError, ValueError):
            pass
    return found


def version(name):
    """The version of the pip package that provides runtime `name` (a RUNTIMES key), or
    None when that runtime is not installed."""
    if name not in RUNTIMES:
        raise ValueError(f"`name` must be one of {', '.join(RUNTIMES)}, got {name!r}.")
    if name not in available():
        return None
    try:
        return importlib.metadata.version(RUNTIMES[name][2])
    except importlib.metadata.PackageNotFoundError:
        return None


def interpreter_class(runtime=None, *, custom_ops=False):
    """(runtime name, its Interpreter class) for `runtime`, or the preferred installed one;
    with `custom_ops`, the class that takes `custom_op_registerers`."""
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"`runtime` must be None or one of {', '.join(RUNTIMES)}, got {runtime!r}.")
    candidates = [runtime] if runtime else available()
    if not candidates:
        raise ImportError(
            "No TFLite runtime is installed: pip install ai-edge-litert (preferred), "
            "tflite-runtime or tensorflow."
        )
    name = candidates[0]
    module, attribute, package = RUNTIMES[name]
    if custom_ops:
        module, attribute = WITH_CUSTOM_OPS[name]
    if name == "tflite_runtime" and name in available() and _tensorflow_first():
        raise ImportError(_TENSORFLOW_FIRST)
    try:
        cls = importlib.import_module(module)
        for part in attribute.split("."):
            cls = getattr(cls, part)
    except ImportError as err:
        raise ImportError(f"`runtime`={name!r} is not installed: pip install {package} ({err}).") from err
    return name, _quiet(cls) if name == "tensorflow" else cls


def _quiet(cls):
    # tf.lite.Interpreter warns that it is deprecated at every construction; the user chose it.
    def make(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return cls(*args, **kwargs)

    return make


_TENSORFLOW_FIRST = (
    "tflite_runtime cannot run models in a process that imported TensorFlow before it: "
    "TensorFlow >= 2.20 loads its library with RTLD_GLOBAL, so tflite_runtime's calls reach "
    "TensorFlow's copy of TFLite and fail (\"vector::reserve\"). Import tflite_runtime (or make "
    "the keras_wht.tflite.Interpreter) before TensorFlow, run the model in a process without "
    "TensorFlow, or use runtime='ai_edge_litert' (pip install ai-edge-litert) or 'tensorflow'."
)


def _tensorflow_first():
    """Whether this process imported TensorFlow before tflite_runtime's interpreter
    (modules enter sys.modules in import order)."""
    loaded = list(sys.modules)
    if "tensorflow" not in loaded:
        return False
    return "tflite_runtime.interpreter" not in loaded or \
        loaded.index("tensorflow") < loaded.index("tflite_runtime.interpreter")
