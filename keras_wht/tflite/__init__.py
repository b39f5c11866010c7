"""TFLite: convert Keras models with WHT layers, and run them on any TFLite runtime.

Names load on first use: running a model (`Interpreter`, `custom_op_registerers`) does not
import TensorFlow, so a device with only ai-edge-litert or tflite-runtime runs
keras-wht models; converting (`convert`, `check_parity`) does.
"""

import importlib

_NAMES = {
    "ParityError": "converter",
    "check_parity": "converter",
    "convert": "converter",
    "operators": "flatbuffer",
    "Interpreter": "interpreter",
    "runtimes": "runtime",
    "custom_op_registerers": "custom_ops",
    "CustomOpsUnavailable": "custom_ops",
}
_ATTRIBUTE = {"runtimes": "available"}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        if _NAMES[name] == "converter":
            from keras_wht._checks import require_tensorflow

            require_tensorflow()  # a device without TensorFlow runs models, but cannot convert
        module = importlib.import_module(f"keras_wht.tflite.{_NAMES[name]}")
        value = globals()[name] = getattr(module, _ATTRIBUTE.get(name, name))
        return value
    raise AttributeError(f"module 'keras_wht.tflite' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_NAMES))
